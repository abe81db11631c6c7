package app_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

// TestMain lets the test binary act as kbrun in a subprocess (for signals).
func TestMain(m *testing.M) {
	// Failed runs write their diagnostics under the working directory by
	// default: here, the package's source folder.
	diag := filepath.Join(os.TempDir(), "kbrun-app-test-diagnostics")
	app.SetDefaultDiagnostics(diag)
	if os.Getenv("KBRUN_TEST_AS_MAIN") == "1" {
		os.Exit(app.MainAs(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	os.RemoveAll(diag)
	os.Exit(code)
}

func kbrun(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = app.Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     int
		inStdout string
		inStderr string
	}{
		{"run ok", []string{"run", "testdata/ok.yaml"}, 0, "hello world A,B", ""},
		{"set string", []string{"run", "testdata/ok.yaml", "--set", "who=a b;c"}, 0, "hello a b;c A,B", ""},
		{"set list", []string{"run", "testdata/ok.yaml", "--set", "caps=X,Y"}, 0, "hello world X,Y", ""},
		{"set list yaml", []string{"run", "testdata/ok.yaml", "--set", "caps=[P, Q]"}, 0, "hello world P,Q", ""},
		{"set unknown var", []string{"run", "testdata/ok.yaml", "--set", "nope=1"}, 2, "", `unknown var "nope"`},
		{"set misspelt var", []string{"run", "testdata/ok.yaml", "--set", "cpas=X"}, 2, "", `unknown var "cpas" (did you mean "caps"?)`},
		{"task fails", []string{"run", "testdata/fail.yaml"}, 1, "exited with code 3", ""},
		{"invalid pipeline", []string{"run", "testdata/bad.yaml"}, 2, "", "testdata/bad.yaml:8:"},
		{"missing file", []string{"run", "testdata/none.yaml"}, 2, "", "no such file"},
		{"unknown flag", []string{"run", "--bogus", "testdata/ok.yaml"}, 2, "", "unknown flag"},
		{"no args", []string{"run"}, 2, "", "requires at least 1 arg"},
		{"bad output", []string{"run", "-o", "xml", "testdata/ok.yaml"}, 2, "", "--output"},
		{"log dir a file", []string{"run", "--log-dir", "testdata/ok.yaml", "testdata/ok.yaml"}, 2, "", "--log-dir testdata/ok.yaml: mkdir testdata/ok.yaml: not a directory; nothing was run"},
		{"unknown only", []string{"run", "--only", "x", "testdata/ok.yaml"}, 2, "", `no task "x"`},
		{"validate ok", []string{"validate", "testdata/ok.yaml"}, 0, "valid", ""},
		{"validate bad", []string{"validate", "testdata/ok.yaml", "testdata/bad.yaml"}, 2, "testdata/ok.yaml: valid", "2 problems found"},
		{"plan", []string{"plan", "testdata/ok.yaml"}, 0, "1. hello (run)", ""},
		{"dry run", []string{"run", "--dry-run", "testdata/fail.yaml"}, 0, "Plan OK: nothing was run.", ""},
		{"version", []string{"version"}, 0, "kbrun ", ""},
		{"cleanup without a target", []string{"cleanup"}, 2, "", "give exactly one of FILE, --run ID and --expired"},
		{"cleanup two targets", []string{"cleanup", "--run", "x", "--expired"}, 2, "", "give exactly one of"},
		{"cleanup -A and -n", []string{"cleanup", "--expired", "-A", "-n", "x"}, 2, "", "-A and -n cannot be used together"},
		{"cleanup invalid pipeline", []string{"cleanup", "testdata/bad.yaml"}, 2, "", "testdata/bad.yaml:8:"},
		{"bad run id", []string{"run", "--run-id", "Not_A_Label", "testdata/ok.yaml"}, 2, "", "cannot name a Lease"},
		{"tasks", []string{"tasks"}, 0, "compile —", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := kbrun(tc.args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			if tc.inStdout != "" && !strings.Contains(out, tc.inStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.inStdout, out)
			}
			if tc.inStderr != "" && !strings.Contains(errOut, tc.inStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inStderr, errOut)
			}
		})
	}
}

// TestInvalidRunsNothing: a pipeline that does not validate runs no command.
func TestInvalidRunsNothing(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Chdir(dir)
	code, _, _ := kbrun("run", filepath.Join(wd, "testdata/bad.yaml"))
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(wd, "testdata/should-never-exist")); err == nil {
		t.Fatal("a task of an invalid pipeline ran")
	}
}

func TestJSONAndJUnit(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, errOut := kbrun("run", "testdata/fail.yaml", "-o", "json", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not one JSON event per line: %q: %v", line, err)
		}
		if _, ok := ev["time"]; !ok {
			t.Errorf("event without time: %s", line)
		}
		types = append(types, ev["type"].(string))
	}
	want := "run.start task.start task.output task.end run.end"
	if strings.Join(types, " ") != want {
		t.Errorf("events %v, want %s", types, want)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("JUnit not XML: %v\n%s", err, data)
	}
	s := doc.Suites[0]
	if s.Tests != 1 || s.Failures != 1 || s.Cases[0].Name != "boom" || s.Cases[0].Failure == nil || !strings.Contains(s.Cases[0].Out, "about to fail") {
		t.Errorf("unexpected JUnit report:\n%s", data)
	}
}

// TestInterrupt sends SIGINT to a running kbrun: the run stops, finally
// still runs, later tasks do not, and the exit code is 130.
func TestInterrupt(t *testing.T) {
	c := startChild(t, "testdata/interrupt.yaml")
	c.waitFor(t, "task.start", "long")
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, c.stderr.String())
	}
	if !exists(c.marker + ".cleanup") {
		t.Errorf("finally did not run after SIGINT\n%s", c.stderr.String())
	}
	if exists(c.marker + ".never") {
		t.Errorf("a task after the interrupted one ran")
	}
}

// TestInvalidCorpusTouchesNoCluster runs every file of the loader's invalid
// corpus through `kbrun run` with a fake API server that counts requests:
// each must exit 2 with file:line:col errors, and the server must see no
// request at all. A valid pipeline with a cluster task is the control: it
// does reach the server, so a zero count means something.
func TestInvalidCorpusTouchesNoCluster(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	// No kubeconfig at all: only --server names a cluster.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	kube := []string{"--server", srv.URL}

	files, _ := filepath.Glob("../../../engine/load/testdata/invalid/*.yaml")
	if len(files) < 60 {
		t.Fatalf("corpus has %d files, want at least 60", len(files))
	}
	for _, f := range files {
		code, _, errOut := kbrun(append([]string{"run", f}, kube...)...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", f, code, errOut)
		}
		if !strings.Contains(errOut, f+":") {
			t.Errorf("%s: errors do not name the file:\n%s", f, errOut)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("invalid pipelines made %d requests to the cluster", n)
	}

	control := filepath.Join(t.TempDir(), "control.yaml")
	if err := os.WriteFile(control, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: control}
tasks:
  - name: ns
    retry: {attempts: 1}
    apply:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: control}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := kbrun(append([]string{"run", control}, kube...)...); code != 1 {
		t.Errorf("control: exit %d, want 1 (the fake server refuses)\n%s", code, errOut)
	}
	if hits.Load() == 0 {
		t.Fatal("control pipeline made no request: the counter proves nothing")
	}
}

// TestNoClusterConfigRunsNothing: a pipeline with cluster tasks and no
// usable cluster configuration stops before its first task, with exit 2.
func TestNoClusterConfigRunsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
tasks:
  - name: local
    run: {command: [touch, `+marker+`]}
  - name: ns
    apply: {manifest: "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"}
`), 0o644)
	code, _, errOut := kbrun("run", file, "--kubeconfig", filepath.Join(dir, "missing"))
	if code != 2 || !strings.Contains(errOut, "cluster tasks") || !strings.Contains(errOut, "missing") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a task ran although the cluster configuration is broken")
	}
}

// kubectl's --profile/--profile-output write a pprof profile of the run;
// an unknown profile name is a usage error.
func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"cpu", "heap"} {
		file := filepath.Join(dir, name+".pprof")
		if code, _, errOut := kbrun("plan", "../../../pipelines/kaniko-rootless.yaml", "--profile", name, "--profile-output", file); code != 0 {
			t.Fatalf("--profile %s: exit %d: %s", name, code, errOut)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// pprof profiles are gzipped protobufs.
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Errorf("--profile %s wrote %d bytes, not a gzipped profile", name, len(data))
		}
	}
	if code, _, errOut := kbrun("version", "--profile", "bogus"); code != 2 || !strings.Contains(errOut, "--profile \"bogus\"") {
		t.Errorf("--profile bogus: exit %d, %q; want 2 naming the flag", code, errOut)
	}
}
