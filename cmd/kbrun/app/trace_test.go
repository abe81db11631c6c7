package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kbrun/kbrun/test/otlpsink"
)

// TestTraceSwitches: an endpoint variable turns tracing on for run, and
// --trace with the traces endpoint; --trace=false turns it off, plan never
// traces; the exit code is the run's.
func TestTraceSwitches(t *testing.T) {
	tests := []struct {
		name     string
		env      string // the variable that gets the receiver's URL
		path     string // added to the URL
		args     []string
		wantCode int
		want     string // the span tree, "" for none
	}{
		{"endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", []string{"run", "testdata/ok.yaml"}, 0,
			"kbrun run [Ok]\n  pipeline ok [Ok]\n    task hello [Ok]\n      attempt [Ok]\n"},
		{"--trace, traces endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/v1/traces", []string{"run", "--trace", "testdata/ok.yaml"}, 0,
			"kbrun run [Ok]\n  pipeline ok [Ok]\n    task hello [Ok]\n      attempt [Ok]\n"},
		{"failed", "OTEL_EXPORTER_OTLP_ENDPOINT", "", []string{"run", "testdata/fail.yaml"}, 1,
			"kbrun run [Error]\n  pipeline fail [Error]\n    task boom [Error]\n      attempt [Error]\n"},
		{"--trace=false", "OTEL_EXPORTER_OTLP_ENDPOINT", "", []string{"run", "--trace=false", "testdata/ok.yaml"}, 0, ""},
		{"plan", "OTEL_EXPORTER_OTLP_ENDPOINT", "", []string{"plan", "testdata/ok.yaml"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := otlpsink.New(t)
			t.Setenv(tc.env, sink.URL+tc.path)
			code, out, errOut := kbrun(tc.args...)
			if code != tc.wantCode || errOut != "" && tc.wantCode == 0 {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			if got := otlpsink.Tree(sink.Spans()); got != tc.want {
				t.Errorf("spans:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestTraceEndpointDown: a collector that is not there is one warning
// line on stderr; the exit code stays the run's.
func TestTraceEndpointDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+l.Addr().String())
	l.Close()
	for file, want := range map[string]int{"testdata/ok.yaml": 0, "testdata/fail.yaml": 1} {
		code, out, errOut := kbrun("run", file)
		if code != want {
			t.Errorf("%s: exit %d, want %d\n%s%s", file, code, want, out, errOut)
		}
		if !strings.HasPrefix(errOut, "kbrun: warning: the run's trace was not exported: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: stderr %q, want one warning line", file, errOut)
		}
	}
}

// TestTraceSecretsNeverShow: a secret var, the forms the masker knows of
// it (base64, quoted, JSON, URL, a dockerconfigjson made from it, its
// sha256 printed by a command) and secret matrix values are in no span: no name, attribute, event or status message.
func TestTraceSecretsNeverShow(t *testing.T) {
	const pw = `s3cr"et/&pa55 wörd`
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	pipeline := strings.Replace(secretPipeline, "tasks:\n", `  tokens: {default: "[\"tok3n-one\", \"tok3n-two\"]", secret: true}
tasks:
  - name: probe
    matrix: {token: "{{ .vars.tokens }}"}
    run: {command: [echo, "{{ .matrix.token }}"]}
`, 1)
	if err := os.WriteFile(file, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
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
		"matrix value":     "tok3n-one",
	}
	sink := otlpsink.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	code, out, errOut := kbrun("run", file, "--set-file", "pw="+pwFile)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the task fails printing the secret)\n%s%s", code, out, errOut)
	}
	spans := sink.Spans()
	fails := otlpsink.Find(spans, "task fails")
	if len(fails) != 1 || fails[0].Status != "Error" || !strings.Contains(fails[0].Message, "***") {
		t.Fatalf("the failing task's span, with its masked error, is missing:\n%s", otlpsink.Tree(spans))
	}
	// Cells whose values are secret are numbered, not named after them.
	if len(otlpsink.Find(spans, "cell probe[secret-2]")) != 1 {
		t.Errorf("the matrix's cells are missing:\n%s", otlpsink.Tree(spans))
	}
	if !sink.Contains([]byte("bad token: ***")) {
		t.Error("the bodies received do not hold the failing task's masked error: the search below finds nothing")
	}
	for form, v := range forms {
		if sink.Contains([]byte(v)) {
			t.Errorf("a span shows the secret's %s form %q", form, v)
		}
	}
}

// TestTraceInterrupted: a run stopped by SIGINT still sends its spans
// before kbrun exits: the task it stopped is an Error, the one it never
// started skipped, the cleanup in finally Ok.
func TestTraceInterrupted(t *testing.T) {
	sink := otlpsink.New(t)
	c := newChild(t, "testdata/interrupt.yaml")
	c.cmd.Env = append(c.cmd.Env, "OTEL_EXPORTER_OTLP_ENDPOINT="+sink.URL)
	c.start(t)
	c.waitFor(t, "task.start", "long")
	c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t); code != 130 {
		t.Fatalf("exit %d, want 130\n%s", code, c.stderr.String())
	}
	want := `kbrun run [Error]
  pipeline interrupt [Error]
    task started [Ok]
      attempt [Ok]
    task long [Error]
      attempt [Error]
    task never [Unset]
    task cleanup [Ok]
      attempt [Ok]
`
	spans := sink.Spans()
	if got := otlpsink.Tree(spans); got != want {
		t.Errorf("spans:\n%s\nwant:\n%s", got, want)
	}
	if pl := otlpsink.Find(spans, "pipeline interrupt"); len(pl) != 1 || !strings.Contains(pl[0].Message, "SIGINT") || pl[0].Attrs["kbrun.exit_code"] != int64(130) {
		t.Errorf("pipeline span: %+v", pl)
	}
}
