package app_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestUnwritableDestinationsRunNothing: a --junit report, or a task output
// file, that could not be written is refused before the run (exit 2,
// naming the flag, or the field at its FILE:LINE:COL, and the path): no task starts, finally
// included, and the cluster gets no request. With the same pipeline and a
// writable report, the run does reach the cluster (the control).
func TestUnwritableDestinationsRunNothing(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "ran")
	pipeline := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(pipeline, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
vars:
  bin: bin/prog
  dl: out/hostname
tasks:
  - name: local
    run: {command: [touch, `+marker+`]}
  - name: ns
    retry: {attempts: 1}
    apply: {manifest: "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"}
  - name: build
    compile: {package: ., output: "{{ .vars.bin }}"}
  - name: fetch
    copy: {pod: x, download: [{from: /etc/hostname, to: "{{ .vars.dl }}"}]}
finally:
  - name: cleanup
    run: {command: [touch, `+marker+`]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"junit in a missing folder", []string{"--junit", filepath.Join(dir, "none", "junit.xml")},
			"--junit " + filepath.Join(dir, "none", "junit.xml") + ": folder " + filepath.Join(dir, "none") + " does not exist; nothing was run"},
		{"junit under a file", []string{"--junit", filepath.Join(file, "junit.xml")},
			"--junit " + filepath.Join(file, "junit.xml") + ": " + file + " is not a folder; nothing was run"},
		{"junit is a folder", []string{"--junit", dir}, "--junit " + dir + ": " + dir + " is a folder; nothing was run"},
		{"compile output under a file", []string{"--set", "bin=" + filepath.Join(file, "prog")},
			"tasks[2].compile.output: the binary cannot be written to " + filepath.Join(file, "prog") + ": " + file + " is not a folder"},
		{"download under a file", []string{"--set", "dl=" + filepath.Join(file, "sub", "hostname")},
			"tasks[3].copy.download[0].to: " + filepath.Join(file, "sub", "hostname") + " cannot be written: " + file + " is not a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := kbrun(append([]string{"run", pipeline, "--server", srv.URL}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want 2 with %q\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("a task ran")
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("%d requests reached the cluster", n)
			}
		})
	}
	junit := filepath.Join(dir, "junit.xml")
	if code, _, errOut := kbrun("run", pipeline, "--server", srv.URL, "--junit", junit); code != 1 || hits.Load() == 0 {
		t.Fatalf("control: exit %d, %d requests, want 1 and some\n%s", code, hits.Load(), errOut)
	}
	if _, err := os.Stat(junit); err != nil {
		t.Fatalf("control: no JUnit report: %v", err)
	}
}
