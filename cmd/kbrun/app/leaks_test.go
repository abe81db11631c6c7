package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// The secrets of the leak corpus: none of their pieces of 4 letters or
// more turns up in kbrun's own output by chance.
const (
	leakPW  = "Qz7vXk-9Jw3Tp"
	leakPW2 = "9Jw3TpMn8Rq4"
	leakCyr = "пароль-секрет"
	leakPEM = "-----BEGIN ZQX VKJ-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAx7m\nZr4pQw9TbLk2Vn8Hs5Yc1Ud6Fe3Jg0Ki7Lh4Mj2Nb9Pv5Rx8Sw\n-----END ZQX VKJ-----\n"
	// leakQuote has what escapes and shell quoting change: ' " < > &.
	leakQuote = `Zq8'Wx5"Lm3<Kt>&Vb6`
	leakLines = `printf "%s\n" "$PW" | sed "s/^/> /"`
)

// leak is one attempt to get a secret shown.
type leak struct {
	name string
	// vars and tasks of the pipeline (YAML, indented under vars: and
	// tasks:); pw is a secret var given with --set. head is more of the
	// pipeline's top level.
	vars, tasks, head string
	// args are more arguments; files are written to the test's folder
	// ({{DIR}} in vars, tasks and args names it).
	args  []string
	files map[string]string
	// run is run's exit code; checked the exit code of validate and plan
	// (0 unless a problem is found before anything runs).
	run, checked int
	// masked: run's output shows *** (the command printed the secret).
	masked bool
}

const pwVar = "  pw: {secret: true}\n"

func echo(tmpl string) string {
	return "  - name: show\n    run: {command: [echo, '" + tmpl + "']}\n"
}

func shell(script string) string {
	return "  - name: show\n    run: {shell: '" + script + "', env: {PW: '{{ .vars.pw }}'}}\n"
}

func leakCorpus() []leak {
	printed := func(name, tmpl string) leak {
		return leak{name: name, vars: pwVar, tasks: echo(tmpl), masked: true}
	}
	cut := func(name, tmpl string) leak {
		return leak{name: name, vars: pwVar, tasks: echo(tmpl), run: 2, checked: 2}
	}
	lib := map[string]string{"lib.yaml": `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: l}
params:
  token: {required: true}
  plain: {default: x}
tasks:
  - name: up
    run: {command: [echo, '{{ .params.token | upper }} {{ .params.token | b64enc }} {{ $p := . }}{{ $p.params.token | sha256sum }}']}
  - name: out
    run: {command: [echo, '{{ .tasks.up.stdout | lower }}']}
outputs:
  shown: '{{ .tasks.up.stdout | title }}'
`}
	return []leak{
		printed("plain", `{{ .vars.pw }}`),
		printed("base64", `{{ .vars.pw | b64enc }}`),
		printed("upper", `{{ .vars.pw | upper }}`),
		printed("lower", `{{ .vars.pw | lower }}`),
		printed("title", `{{ lower .vars.pw | title }}`),
		printed("swapcase", `{{ .vars.pw | swapcase }}`),
		printed("shuffle", `{{ .vars.pw | shuffle }}`),
		printed("sha256", `{{ .vars.pw | sha256sum }}`),
		printed("sha256 upper", `{{ .vars.pw | sha256sum | upper }}`),
		printed("quote", `{{ .vars.pw | quote }} {{ .vars.pw | squote }}`),
		printed("json", `{{ dict "a" .vars.pw | toJson }}`),
		printed("pretty json", `{{ dict "a" .vars.pw | toPrettyJson }}`),
		printed("urlquery", `https://x/?t={{ .vars.pw | urlquery }}&u=1`),
		printed("replace", `{{ .vars.pw | replace "-" "" }}`),
		printed("regexReplaceAll", `{{ regexReplaceAll "-" .vars.pw "_" }}`),
		printed("b64 round trip", `{{ .vars.pw | b64enc | b64dec | upper }}`),
		printed("printf", `{{ printf "%s/%s" (upper .vars.pw) (lower .vars.pw) }}`),
		printed("root variable", `{{ $all := . }}{{ $all.vars.pw | upper }}`),
		printed("with root", `{{ with $ }}{{ .vars.pw | b64enc }}{{ end }}`),
		printed("index root", `{{ index . "vars" "pw" | upper }}`),
		printed("range root", `{{ range $k, $v := .vars }}{{ $k }}={{ $v | upper }} {{ end }}`),
		printed("pick", `{{ pick .vars "pw" | toJson | upper }}`),
		{name: "derived var through root", vars: pwVar + "  d: '{{ $a := . }}{{ $a.vars.pw | upper }}'\n", tasks: echo(`{{ .vars.d }}`), masked: true},
		{name: "derived var hashed", vars: pwVar + "  d: '{{ .vars.pw | sha1sum }}'\n", tasks: echo(`{{ .vars.d | upper }}`), masked: true},
		{name: "task output", vars: pwVar, tasks: shell(`printf %s \"$PW\"`) + "  - name: again\n    run: {command: [echo, '{{ .tasks.show.stdout | upper }}']}\n", masked: true},
		{name: "task output base64", vars: pwVar, tasks: shell(`printf %s \"$PW\" | base64`) + "  - name: again\n    run: {command: [echo, '{{ .tasks.show.stdout | b64dec | upper }}']}\n", masked: true},
		{name: "library param", vars: pwVar, tasks: "  - name: use\n    uses: lib.yaml\n    with: {token: '{{ .vars.pw }}'}\n  - name: after\n    run: {command: [echo, '{{ .tasks.use.shown }}']}\n", files: lib, masked: true},
		{name: "library param derived", vars: pwVar, tasks: "  - name: use\n    uses: lib.yaml\n    with: {token: '{{ .vars.pw | b64enc }}'}\n", files: lib, masked: true},
		{name: "matrix value", vars: pwVar, tasks: "  - name: m\n    matrix: {v: ['{{ .vars.pw }}', '{{ upper .vars.pw }}', plain]}\n    run: {command: [echo, '{{ .matrix.v }}']}\n", masked: true},
		{name: "multi-line file", vars: "  pw: {secret: true}\n  pem: {secret: true}\n", tasks: "  - name: show\n    run: {shell: 'printf \"%s\" \"$PEM\"; printf \"%s\" \"$PEM\" | tr a-z A-Z', env: {PEM: '{{ .vars.pem }}'}}\n",
			args: []string{"--set-file", "pem={{DIR}}/key.pem"}, files: map[string]string{"key.pem": leakPEM}, masked: true},
		{name: "multi-line template", vars: "  pw: {secret: true}\n  pem: {secret: true}\n", tasks: echo(`{{ .vars.pem }}{{ .vars.pem | indent 4 }}`),
			args: []string{"--set-file", "pem={{DIR}}/key.pem"}, files: map[string]string{"key.pem": leakPEM}, masked: true},
		{name: "overlapping secrets", vars: "  pw: {secret: true}\n  pw2: {secret: true}\n", tasks: echo(`{{ .vars.pw }}Mn8Rq4 Qz7vXk-{{ .vars.pw2 }}`), args: []string{"--set", "pw2=" + leakPW2}, masked: true},
		{name: "non-ASCII", vars: "  pw: {secret: true}\n  cyr: {secret: true}\n", tasks: echo(`{{ .vars.cyr | upper }} {{ .vars.cyr | title }} {{ .vars.cyr }}`), args: []string{"--set", "cyr=" + leakCyr}, masked: true},
		{name: "command output", vars: pwVar, tasks: shell(`echo \"token $PW\"; echo \"$PW\" | base64; echo \"$PW\" >&2; exit 3`), run: 1, masked: true},
		{name: "lines prefixed", vars: pwVar, tasks: shell(leakLines), masked: true},
		{name: "fail upper", vars: pwVar, tasks: echo(`{{ fail (upper .vars.pw) }}`), run: 2, checked: 2},
		{name: "fail base64", vars: pwVar, tasks: echo(`{{ fail (printf "bad %s" (b64enc .vars.pw)) }}`), run: 2, checked: 2},
		{name: "timeout from secret", vars: pwVar, tasks: "  - name: t\n    timeout: '{{ .vars.pw }}'\n    run: {command: ['true']}\n", run: 2, checked: 2},
		{name: "pattern from --set", vars: "  pw: {secret: true, pattern: '[a-z]+'}\n", tasks: echo(`x`), run: 2, checked: 2},
		{name: "enum from values file", vars: "  pw: {secret: true}\n  pw3: {secret: true, enum: [aaaaaaaa, bbbbbbbb]}\n", tasks: echo(`x`),
			args: []string{"-f", "{{DIR}}/values.yaml"}, files: map[string]string{"values.yaml": "pw3: " + leakPW + "\n"}, run: 2, checked: 2},
		{name: "type from --set", vars: "  pw: {secret: true}\n  n: {secret: true, type: int}\n", tasks: echo(`x`), args: []string{"--set", "n=" + leakPW}, run: 2, checked: 2},
		cut("trunc", `{{ trunc 5 .vars.pw }}`),
		cut("substr", `{{ substr 2 8 .vars.pw }}`),
		cut("splitList", `{{ index (splitList "-" .vars.pw) 1 }}`),
		cut("regexFind", `{{ regexFind "[A-Za-z0-9]{4}" .vars.pw }}`),
		cut("newlines inserted", `{{ regexReplaceAll "(.{3})" .vars.pw "${1}\n" }}`),
		cut("slice", `{{ slice .vars.pw 3 9 | upper }}`),
		cut("whole and piece", `{{ .vars.pw }} {{ trunc 4 .vars.pw }}`),
		cut("letters dropped", `{{ regexReplaceAll "[0-9]" .vars.pw "#" }}`),
		cut("upper then cut", `{{ .vars.pw | upper | trunc 6 }}`),
		{name: "piece to env only", vars: pwVar, tasks: "  - name: e\n    run: {command: ['true'], env: {P: '{{ trunc 5 .vars.pw }}'}}\n"},
		{name: "piece in output group", vars: pwVar, tasks: "  - name: g\n    run: {shell: 'echo \"$PW\"', env: {PW: '{{ .vars.pw }}'}, expect: {stdout: {matches: '^(?P<part>.{5})'}}}\n", run: 1, masked: true},
		{name: "secret default", vars: "  pw: {secret: true, default: '" + leakPW + "'}\n", tasks: echo(`{{ .vars.pw | upper }}`), masked: true},
		{name: "secret from values file", vars: pwVar + "  other: {secret: true}\n", tasks: echo(`{{ .vars.other | b64enc }} {{ .vars.other }}`), args: []string{"-f", "{{DIR}}/values.yaml"}, files: map[string]string{"values.yaml": "other: " + leakPW2 + "\n"}, masked: true},
		{name: "namespace", head: "namespace: '{{ .vars.pw | lower }}-x'\n", vars: pwVar, tasks: "  - name: d\n    delete: {applied: true}\n", run: 2},
		{name: "namespace cut", head: "namespace: '{{ trunc 6 .vars.pw | lower }}'\n", vars: pwVar, tasks: "  - name: d\n    delete: {applied: true}\n", run: 2, checked: 2},
		// Found by FuzzSprigOverSecret: templates whose path depends on the
		// secret's letters, which the stand-ins lack.
		cut("split on a letter", `{{ index (splitList "J" .vars.pw) 0 }}`),
		cut("split on a letter, last", `{{ splitList "X" .vars.pw | last }}`),
		cut("split on a letter, rest", `{{ splitList "v" .vars.pw | rest | join "" }}`),
		cut("split on a letter, initial", `{{ splitList "w" .vars.pw | initial | join "" }}`),
		cut("regexSplit", `{{ index (regexSplit "[XJ]" .vars.pw -1) 0 }}`),
		cut("regexFind on a letter", `{{ regexFind "k.*w" .vars.pw }}`),
		cut("letter removed", `{{ .vars.pw | replace "X" "" }}`),
		cut("trimAll a letter", `{{ .vars.pw | trimAll "Q" | trimAll "p" }}`),
		cut("newline at a letter", `{{ .vars.pw | replace "J" "
" }}`),
		cut("abbrev", `{{ abbrev 8 .vars.pw }}`),
		cut("wrapWith", `{{ wrapWith 5 "\n" .vars.pw }}`),
		cut("printf precision", `{{ printf "%.5s" .vars.pw }}`),
		cut("runes", `{{ range $i, $r := .vars.pw }}{{ if lt $i 5 }}{{ printf "%c" $r }}{{ end }}{{ end }}`),
		cut("bytes sliced", `{{ toString (slice (.vars.pw | toBytes) 2 7) }}`),
		cut("when the stand-ins fail", `{{ $p := index (splitList "X" .vars.pw) 1 }}{{ substr 0 5 $p }}`),
		{name: "derived var split on a letter", vars: pwVar + "  d: '{{ index (splitList \"J\" .vars.pw) 0 }}'\n", tasks: echo(`{{ .vars.d }}`), run: 2, checked: 2},
		{name: "derived var the stand-ins fail", vars: pwVar + "  d: '{{ if ne .vars.pw \"" + leakPW + "\" }}{{ fail \"no\" }}{{ end }}{{ .vars.pw | sha256sum }}'\n", tasks: echo(`{{ .vars.d }}`), masked: true},
		{name: "piece in a Secret's data", vars: pwVar, tasks: "  - name: s\n    apply: {files: [secret.yaml]}\n", run: 2,
			files: map[string]string{"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  user: '{{ trunc 5 .vars.pw }}'\n  pw: '{{ .vars.pw }}'\n"}},
		{name: "piece in a Secret's label", vars: pwVar, tasks: "  - name: s\n    apply: {files: [secret.yaml]}\n", run: 2, checked: 2,
			files: map[string]string{"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, labels: {u: '{{ trunc 5 .vars.pw | lower }}'}}\nstringData:\n  user: '{{ trunc 5 .vars.pw }}'\n"}},
		printed("html", `{{ .vars.pw | html }}`),
		printed("js", `{{ js .vars.pw }}`),
		printed("urlquery builtin", `{{ urlquery .vars.pw "x" }}`),
		{name: "quotes escaped", vars: pwVar + "  q: {secret: true}\n", tasks: echo(`{{ .vars.q }} {{ .vars.q | html }} {{ .vars.q | js }} {{ .vars.q | urlquery }} {{ .vars.q | quote }}`),
			args: []string{"--set", "q=" + leakQuote}, masked: true},
		{name: "piece in an inline Secret's data", vars: pwVar, tasks: "  - name: s\n    apply:\n      manifest: |\n        apiVersion: v1\n        kind: Secret\n        metadata: {name: s}\n        stringData:\n          user: '{{ trunc 5 .vars.pw }}'\n          pw: '{{ .vars.pw }}'\n", run: 2},
		{name: "piece in an inline Secret's label", vars: pwVar, tasks: "  - name: s\n    apply:\n      manifest: |\n        apiVersion: v1\n        kind: Secret\n        metadata: {name: s, labels: {u: '{{ trunc 5 .vars.pw | lower }}'}}\n        stringData:\n          user: '{{ trunc 5 .vars.pw }}'\n", run: 2, checked: 2},
		{name: "piece in an inline ConfigMap", vars: pwVar, tasks: "  - name: s\n    apply:\n      manifest: |\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: s}\n        data:\n          user: '{{ substr 1 6 .vars.pw }}'\n", run: 2, checked: 2},
		printed("base32", `{{ .vars.pw | b32enc }}`),
		printed("hex", `{{ printf "%x" .vars.pw }}`),
		printed("case styles", `{{ .vars.pw | kebabcase }} {{ .vars.pw | snakecase }} {{ .vars.pw | camelcase }}`),
		{name: "folder from a secret", vars: pwVar, tasks: "  - name: d\n    run: {command: [ls], dir: '{{ .vars.pw | upper }}'}\n", run: 2, checked: 2},
		{name: "expectation from a secret", vars: pwVar, tasks: "  - name: e\n    run: {command: [echo, x], expect: {stdout: {contains: '{{ .vars.pw | upper }}'}}}\n", run: 1, masked: true},
		{name: "when on a secret", vars: pwVar, tasks: "  - name: w\n    when: '{{ eq .vars.pw \"x\" }}'\n    run: {command: [echo, '{{ .vars.pw }}']}\n"},
	}
}

// TestLeaks runs every leak attempt through run (text and -o json, each
// with JUnit), plan (text and -o json) and validate, and finds no secret,
// nor any piece of one of 4 letters or more, in any of their outputs.
func TestLeaks(t *testing.T) {
	corpus := leakCorpus()
	if len(corpus) < 40 {
		t.Fatalf("the corpus has %d attempts, want at least 40", len(corpus))
	}
	secrets := []string{leakPW, leakPW2, leakCyr, leakPEM, leakQuote}
	for _, lk := range corpus {
		t.Run(lk.name, func(t *testing.T) {
			dir := t.TempDir()
			fill := func(s string) string { return strings.ReplaceAll(s, "{{DIR}}", dir) }
			for name, body := range lk.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			file := filepath.Join(dir, "leak.yaml")
			body := "apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: leak}\n" + lk.head + "vars:\n" + lk.vars + "tasks:\n" + lk.tasks
			if err := os.WriteFile(file, []byte(fill(body)), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"--set", "pw=" + leakPW}
			if strings.Contains(lk.vars, "default: '"+leakPW) {
				args = nil
			}
			for _, a := range lk.args {
				args = append(args, fill(a))
			}
			junit := filepath.Join(dir, "junit.xml")
			for _, c := range []struct {
				cmd  []string
				want int
			}{
				// A fixed run id: a random one may spell 4 letters of the PEM.
				{[]string{"run", file, "--junit", junit, "--run-id", "r1"}, lk.run},
				{[]string{"run", file, "-o", "json", "--junit", junit, "--run-id", "r1"}, lk.run},
				{[]string{"plan", file}, lk.checked},
				{[]string{"plan", file, "-o", "json", "--show-manifests"}, lk.checked},
				{[]string{"validate", file}, lk.checked},
			} {
				os.Remove(junit)
				code, out, errOut := kbrun(append(c.cmd, args...)...)
				name := strings.Join(c.cmd[:1], " ") + " " + strings.Join(c.cmd[2:], " ")
				if code != c.want {
					t.Errorf("%s: exit %d, want %d\n%s%s", name, code, c.want, out, errOut)
				}
				noLeak(t, name+" stdout", out, secrets)
				noLeak(t, name+" stderr", errOut, secrets)
				if j, err := os.ReadFile(junit); err == nil {
					noLeak(t, name+" JUnit", string(j), secrets)
				}
				if c.cmd[0] == "run" && lk.masked && !strings.Contains(out, "***") {
					t.Errorf("%s: nothing masked: the attempt printed nothing secret\n%s", name, out)
				}
			}
		})
	}
}

// noLeak fails when text holds a secret, in any case, or a piece of one:
// 4 runes of a line of it with at least 3 letters or digits (dashes alone
// are no secret).
func noLeak(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, s := range secrets {
		for _, line := range strings.Split(strings.ToLower(s), "\n") {
			runes := []rune(strings.TrimSpace(line))
			for i := 0; i+4 <= len(runes); i++ {
				piece := string(runes[i : i+4])
				alnum := 0
				for _, r := range piece {
					if unicode.IsLetter(r) || unicode.IsDigit(r) {
						alnum++
					}
				}
				if alnum < 3 {
					continue
				}
				if at := strings.Index(lower, piece); at >= 0 {
					lo, hi := max(0, at-60), min(len(text), at+60)
					t.Errorf("%s shows %q (of a secret): ...%s...", where, piece, text[lo:hi])
					return
				}
			}
		}
	}
}
