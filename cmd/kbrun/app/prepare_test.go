package app_test

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// positioned is a problem line that says where: FILE:LINE:COL, or the
// --set it is about.
var positioned = regexp.MustCompile(`^(\S+:\d+:\d+: \S|--set(-file)? \w+: )`)

// TestPreparedCorpus: every file of testdata/prepare is a pipeline (with
// its --set/-f arguments in NAME.args) that the loader accepts but that
// would fail once run prepares its tasks: durations that do not parse,
// regular expressions, selectors, manifest files (templates, YAML, kinds,
// binary files), var cycles, values of the wrong type. validate refuses
// each with exit 2, every problem at its FILE:LINE:COL (the manifest's own
// file for manifests), as in its golden file; run refuses it the same way
// and sends no request to the cluster.
func TestPreparedCorpus(t *testing.T) { checkCorpus(t, "testdata/prepare", 25) }

// checkCorpus runs every pipeline of dir (with its --set/-f arguments in
// NAME.args): validate exits 2 with the problems of NAME.golden (go test
// -update writes them), each at its position, and run refuses it the same
// way without a single request to the cluster.
func checkCorpus(t *testing.T, dir string, min int) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	files, _ := filepath.Glob(dir + "/*.yaml")
	if len(files) < min {
		t.Fatalf("corpus has %d files, want at least %d", len(files), min)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			var extra []string
			if b, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".args"); err == nil {
				extra = strings.Fields(string(b))
			}
			code, out, errOut := kbrun(append([]string{"validate", f}, extra...)...)
			if code != 2 || out != "" {
				t.Fatalf("validate: exit %d, want 2\n%s%s", code, out, errOut)
			}
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			for _, l := range lines[:len(lines)-1] {
				if !positioned.MatchString(l) {
					t.Errorf("problem without a position: %q", l)
				}
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(errOut), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if errOut != string(want) {
				t.Errorf("validate's problems differ from %s\n--- got\n%s--- want\n%s", golden, errOut, want)
			}
			code, out, errOut2 := kbrun(append([]string{"run", f, "--server", srv.URL}, extra...)...)
			if code != 2 || out != "" || errOut2 != errOut {
				t.Errorf("run: exit %d, want 2 with validate's problems\n%s%s", code, out, errOut2)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("invalid pipelines made %d requests to the cluster", n)
	}
}

// TestNotRegularFiles: a named pipe as the pipeline or a values file is
// refused at once (it would block), exit 2.
func TestNotRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "p.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.yaml")
	os.WriteFile(ok, []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: ok}\ntasks:\n  - name: a\n    run: {command: [\"true\"]}\n"), 0o644)
	for _, args := range [][]string{{"validate", fifo}, {"run", fifo}, {"validate", ok, "-f", fifo}, {"plan", ok, "-f", fifo}} {
		code, _, errOut := kbrun(args...)
		if code != 2 || !strings.Contains(errOut, "not a regular file (a named pipe)") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
}

// TestUsageErrors: an unknown command is a usage error (exit 2), with
// kubectl's wording.
func TestUsageErrors(t *testing.T) {
	code, _, errOut := kbrun("deploy", "x.yaml")
	if code != 2 || !strings.Contains(errOut, `unknown command "deploy" for "kbrun"`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if code, out, _ := kbrun(); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("kbrun alone: exit %d, want help", code)
	}
}

// TestProblemsCapped: thousands of problems print the first ones and how
// many more there are, not megabytes.
func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: many}\ntasks:\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "  - {name: t%d, run: {command: [echo, \"{{ .vars.nope }}\"]}}\n", i)
	}
	file := filepath.Join(t.TempDir(), "many.yaml")
	os.WriteFile(file, []byte(b.String()), 0o644)
	code, _, errOut := kbrun("validate", file)
	if code != 2 || !strings.Contains(errOut, "... and 19950 more problems") || !strings.Contains(errOut, "20000 problems found") {
		t.Fatalf("exit %d, tail: %s", code, errOut[max(0, len(errOut)-300):])
	}
	if len(errOut) > 20000 {
		t.Errorf("%d bytes of errors", len(errOut))
	}
}

// TestNoKubeconfigAtAll: cluster tasks and no configuration whatsoever
// stop the run before its first (local) task, with kubectl's wording.
func TestNoKubeconfigAtAll(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	marker := filepath.Join(dir, "ran")
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: local\n    run: {command: [touch, "+marker+"]}\n  - name: ns\n    apply: {manifest: \"apiVersion: v1\\nkind: Namespace\\nmetadata: {name: x}\\n\"}\n"), 0o644)
	code, _, errOut := kbrun("run", file)
	if code != 2 || !strings.Contains(errOut, "no cluster is configured") || !strings.Contains(errOut, "localhost:8080 was refused") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a task ran although no cluster is configured")
	}
}

// TestLocalTasksNeedNoCluster: a pipeline of local tasks only runs without
// any cluster configuration and says nothing about a cluster or a lease,
// with or without --keep (a run with cluster tasks keeps a Lease and warns
// when it cannot finish it).
func TestLocalTasksNeedNoCluster(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: local\n    run: {command: [echo, hi]}\nfinally:\n  - name: after\n    run: {command: [echo, bye]}\n"), 0o644)
	for _, args := range [][]string{{"run", file}, {"run", file, "--keep"}, {"run", file, "-o", "json"}} {
		code, out, errOut := kbrun(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, want 0 and nothing on stderr:\n%s", args, code, errOut)
		}
		for _, word := range []string{"cluster", "lease", "warning"} {
			if strings.Contains(strings.ToLower(out), word) {
				t.Errorf("%v: the output speaks of %q:\n%s", args, word, out)
			}
		}
	}
}
