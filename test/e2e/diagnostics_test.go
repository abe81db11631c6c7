//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const diagToken = "e2e-diag-s3cret-token"

// TestDiagnostics runs testdata/diagnostics.yaml: a container that prints
// a secret and exits 1, and an assert that times out waiting for it. The
// failed run's folder must hold what explains it (the crash loop's events,
// the container's state and exit code, its log, masked; what diagnose:
// asks), JUnit must link it; the same pipeline passing makes no folder.
func TestDiagnostics(t *testing.T) {
	file := filepath.Join(repoRoot, "test", "e2e", "testdata", "diagnostics.yaml")
	dir := t.TempDir()
	junit := filepath.Join(t.TempDir(), "junit.xml")

	r := kbrun(t, "run", file, "-o", "json", "--diagnostics", dir, "--junit", junit)
	if r.code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", r.code, r.summary())
	}
	if e := r.ends["ready"]; e.Status != "failed" || !strings.Contains(e.Error, "timed out") {
		t.Fatalf("ready: %+v, want failed by its timeout\n%s", e, r.summary())
	}
	folder := diagnosticsFolder(t, r.stdout)
	if want := filepath.Join(dir, r.runID()); folder != want {
		t.Errorf("run.diagnostics names %s, want %s", folder, want)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(folder, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return string(b)
	}
	contains := func(name, text string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, text)
			}
		}
	}
	contains("summary.txt", read("summary.txt"), "(failed: ready)", "namespace(s) e2e-diagnostics", "pod e2e-diagnostics/crasher-", "container app:")
	contains("events.txt", read("events.txt"), "BackOff", "e2e-diagnostics/pod/crasher-", "Back-off restarting failed container")
	contains("pods.txt", read("pods.txt"), "container app:", "exit code 1", "restarted")
	contains("run-events.jsonl", read("run-events.jsonl"), `"type":"task.end"`, `"task":"ready"`)
	contains("extra/ready/deployment_crasher.yaml", read("extra/ready/deployment_crasher.yaml"), "kind: Deployment", "name: crasher")
	contains("extra/ready/secret_app-token.yaml", read("extra/ready/secret_app-token.yaml"), "token: (not shown)")
	contains("extra/ready/command-1.txt", read("extra/ready/command-1.txt"), "diagnosed from the helper")
	logs, _ := filepath.Glob(filepath.Join(folder, "logs", "e2e-diagnostics_crasher-*_app*.log"))
	var logText string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		logText += string(b)
	}
	contains("logs/…crasher…app", logText, "starting with token ***", "config missing: /etc/app.conf")
	filepath.Walk(folder, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), diagToken) {
				t.Errorf("%s shows the secret", path)
			}
		}
		return nil
	})
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), "diagnostics: "+folder) {
		t.Errorf("the JUnit report does not link %s (%v):\n%s", folder, err, b)
	}
	namespaceGone(t, "e2e-diagnostics")

	passDir := filepath.Join(t.TempDir(), "pass")
	r = kbrun(t, "run", file, "-o", "json", "--diagnostics", passDir, "--set", "fail=false")
	if r.code != 0 {
		t.Fatalf("passing run: exit %d\n%s", r.code, r.summary())
	}
	if _, err := os.Stat(passDir); !os.IsNotExist(err) {
		t.Errorf("a passing run made %s (%v)", passDir, err)
	}
	namespaceGone(t, "e2e-diagnostics")
}

// diagnosticsFolder is the folder a run's run.diagnostics event names.
func diagnosticsFolder(t *testing.T, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		var e struct {
			Type        string `json:"type"`
			Diagnostics string `json:"diagnostics"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Type == "run.diagnostics" {
			return e.Diagnostics
		}
	}
	t.Fatalf("no run.diagnostics event:\n%s", stdout)
	return ""
}
