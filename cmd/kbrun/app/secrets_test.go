package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// secretPipeline turns a secret into everything a template commonly makes
// of it, prints each, and finally fails with it in the error.
const secretPipeline = `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: s}
vars:
  pw: {default: "", secret: true}
  user: team-bot
  auth: '{{ printf "%s:%s" .vars.user .vars.pw | b64enc }}'
  dockerconfigjson: '{{ dict "auths" (dict "registry.example:5000" (dict "auth" .vars.auth)) | toJson | b64enc }}'
tasks:
  - name: b64
    run: {command: [echo, "{{ .vars.pw | b64enc }}"]}
  - name: quoted
    run: {command: [echo, "{{ .vars.pw | quote }}"]}
  - name: json
    run: {command: [echo, "{{ .vars.pw | toJson }}"]}
  - name: url
    run: {command: [echo, "https://registry.example/?token={{ .vars.pw | urlquery }}&x=1"]}
  - name: config
    run: {command: [echo, "{{ .vars.dockerconfigjson }}"]}
  - name: printed
    run: {shell: 'printf "%s\n" "$PW" | base64; echo "{{ .vars.pw | sha256sum }}"', env: {PW: "{{ .vars.pw }}"}}
  - name: fails
    run: {command: [sh, -c, 'echo "bad token: $0" >&2; exit 3', "{{ .vars.pw }}"]}
`

// TestSecretsNeverShow: a secret, its base64, quoted, JSON and URL forms, a
// dockerconfigjson built from it, and what a command prints of it appear in
// no output channel of plan or run: text, -o json, JUnit, stderr.
func TestSecretsNeverShow(t *testing.T) {
	const pw = `s3cr"et/&pa55 wörd`
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte(secretPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("team-bot:" + pw))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{"registry.example:5000": map[string]any{"auth": auth}}})
	js, _ := json.Marshal(pw)
	sum := sha256.Sum256([]byte(pw))
	forms := map[string]string{
		"plain":            pw,
		"base64":           base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64 of line":   base64.StdEncoding.EncodeToString([]byte(pw + "\n")),
		"quoted":           strconv.Quote(pw)[1 : len(strconv.Quote(pw))-1],
		"json":             string(js[1 : len(js)-1]),
		"urlquery":         url.QueryEscape(pw),
		"auth":             auth,
		"dockerconfigjson": base64.StdEncoding.EncodeToString(cfg),
		"sha256":           hex.EncodeToString(sum[:]),
	}
	check := func(name, text string) {
		t.Helper()
		for form, v := range forms {
			if strings.Contains(text, v) {
				t.Errorf("%s shows the secret's %s form %q", name, form, v)
			}
		}
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	// The commands really printed the forms: masking is what hides them.
	for _, args := range [][]string{
		{"run", file, "--set", "pw=" + pw, "--junit", filepath.Join(dir, "j.xml")},
		{"run", file, "--set-file", "pw=" + pwFile, "--junit", filepath.Join(dir, "j.xml")},
		{"run", file, "--set", "pw=" + pw, "-o", "json", "--junit", filepath.Join(dir, "j.xml")},
		{"plan", file, "--set", "pw=" + pw},
		{"plan", file, "--set", "pw=" + pw, "-o", "json"},
	} {
		code, out, errOut := kbrun(args...)
		wantCode := 1
		if args[0] == "plan" {
			wantCode = 0
		}
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		name := strings.Join(args[:1], " ") + " " + strings.Join(args[3:], " ")
		check(name+" stdout", out)
		check(name+" stderr", errOut)
		if args[0] == "run" {
			if !strings.Contains(out, "***") {
				t.Errorf("%s: nothing masked at all:\n%s", name, out)
			}
			junit, err := os.ReadFile(filepath.Join(dir, "j.xml"))
			if err != nil {
				t.Fatal(err)
			}
			check(name+" JUnit", string(junit))
		}
	}
}

// TestShortSecretRefused: a secret too short to mask safely is refused
// before anything runs, whether it is a default or given with --set.
func TestShortSecretRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	os.WriteFile(file, []byte(strings.Replace(secretPipeline, `pw: {default: "", secret: true}`, `pw: {default: "abc", secret: true}`, 1)), 0o644)
	code, _, errOut := kbrun("validate", file)
	if code != 2 || !strings.Contains(errOut, "s.yaml:5:17: vars.pw.default:") || !strings.Contains(errOut, "at least 6 characters") {
		t.Errorf("short default: exit %d\n%s", code, errOut)
	}
	os.WriteFile(file, []byte(secretPipeline), 0o644)
	code, out, errOut := kbrun("run", file, "--set", "pw=x")
	if code != 2 || !strings.Contains(errOut, `--set pw: var "pw": a secret must be at least 6 characters long`) || out != "" {
		t.Errorf("short --set: exit %d\n%s%s", code, out, errOut)
	}
	// 6 bytes, but 5 once lower-cased (İ lowers to i): that form could not
	// be masked.
	code, out, errOut = kbrun("run", file, "--set", "pw=ܡ00İ")
	if code != 2 || !strings.Contains(errOut, "got 6, 5 once its case is changed") || out != "" {
		t.Errorf("short once lower-cased: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSetFile: --set-file gives a var the content of a file as it is (for
// secrets kept out of the command line and shell history); --set wins over
// it; bad paths and values are refused before anything runs, never quoting
// a secret's content.
func TestSetFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
vars:
  token: {type: string, secret: true, pattern: "tk-[a-z]+"}
  note: {default: none}
  count: {type: int, default: 1}
tasks:
  - name: show
    run: {command: [echo, "{{ .vars.note }} {{ .vars.count }} {{ len .vars.token }}"], expect: {stdout: {equals: "line one\nline two 3 9"}}}
`), 0o644)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	tok, note, count := write("tok", "tk-secret"), write("note", "line one\nline two"), write("count", "3\n")
	code, out, errOut := kbrun("run", file, "--set-file", "token="+tok, "--set-file", "note="+note, "--set-file", "count="+count)
	if code != 0 || strings.Contains(out, "tk-secret") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// --set wins over --set-file, whatever the order.
	code, out, errOut = kbrun("run", file, "--set", "note=x", "--set-file", "token="+tok, "--set-file", "note="+note, "--set-file", "count="+count)
	if code != 1 || !strings.Contains(out, `stdout is "x 3 9"`) {
		t.Errorf("--set over --set-file: exit %d\n%s%s", code, out, errOut)
	}
	bad := write("bad", "not-a-token")
	code, out, errOut = kbrun("validate", file, "--set-file", "token="+bad, "--set-file", "nope="+tok, "--set-file", "note="+filepath.Join(dir, "missing"), "--set-file", "count")
	for _, want := range []string{
		`--set-file token: var "token": the content of ` + bad + `: *** does not match the pattern tk-[a-z]+`,
		`--set-file nope: unknown var "nope"`,
		`--set-file note: cannot read ` + filepath.Join(dir, "missing") + `: no such file or directory`,
		`--set-file "count": want NAME=PATH`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate lacks %q\n%s", want, errOut)
		}
	}
	if code != 2 || out != "" || strings.Contains(errOut, "not-a-token") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestSecretFileNewline: a secret read from a file that ends with a newline
// is masked without it too (what a program that reads the file prints), in
// its forms; one that is too short once trimmed is refused.
func TestSecretFileNewline(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
vars:
  token: {secret: true}
  file: {}
tasks:
  - name: show
    run: {command: [sh, -c, 'read -r t < "$0"; echo "token $t"; printf "%s" "$t" | base64', "{{ .vars.file }}"]}
`), 0o644)
	const tok = "tk-s3cret"
	pw := filepath.Join(dir, "tok")
	os.WriteFile(pw, []byte(tok+"\n"), 0o600)
	code, out, errOut := kbrun("run", file, "--set-file", "token="+pw, "--set", "file="+pw)
	if code != 0 || !strings.Contains(out, "show | token ***\n") || !strings.Contains(out, "show | ***\n") {
		t.Fatalf("exit %d, want 0 with the token and its base64 masked\n%s%s", code, out, errOut)
	}
	for _, v := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok))} {
		if strings.Contains(out+errOut, v) {
			t.Errorf("output shows %q:\n%s%s", v, out, errOut)
		}
	}
	os.WriteFile(pw, []byte("abcde\n"), 0o600)
	code, _, errOut = kbrun("validate", file, "--set-file", "token="+pw)
	if code != 2 || !strings.Contains(errOut, "at least 6 characters long to be masked safely (got 5 without the surrounding white space)") {
		t.Errorf("short secret with a newline: exit %d\n%s", code, errOut)
	}
}
