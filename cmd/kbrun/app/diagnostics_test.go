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

// TestDiagnosticsFlags: a failed run against a server that refuses
// everything writes its folder under --diagnostics, says so, and keeps
// its exit code (the refusals are lines of summary.txt); --no-diagnostics
// writes none and sends no request for one; both flags at once are a
// usage error.
func TestDiagnosticsFlags(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	pipeline := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pipeline, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
namespace: team
tasks:
  - name: ns
    retry: {attempts: 1}
    apply: {manifest: "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "diag")
	code, out, errOut := kbrun("run", pipeline, "--server", srv.URL, "--diagnostics", dir, "--run-id", "20260101000000-0001")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	folder := filepath.Join(dir, "20260101000000-0001")
	if want := "? diagnostics of the failed run (failed: ns) in " + folder; !strings.Contains(out, want) {
		t.Errorf("the output lacks %q:\n%s", want, out)
	}
	summary, err := os.ReadFile(filepath.Join(folder, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "events of namespace team: "; !strings.Contains(string(summary), want) {
		t.Errorf("summary.txt lacks %q:\n%s", want, summary)
	}
	withDiagnosis := hits.Swap(0)

	if code, out, errOut := kbrun("run", pipeline, "--server", srv.URL, "--no-diagnostics", "--run-id", "20260101000000-0002"); code != 1 || strings.Contains(out, "diagnostics") {
		t.Errorf("--no-diagnostics: exit %d, want 1, and no diagnostics:\n%s%s", code, out, errOut)
	}
	// Where TestMain moved the default folder.
	if _, err := os.Stat(filepath.Join(os.TempDir(), "kbrun-app-test-diagnostics", "20260101000000-0002")); !os.IsNotExist(err) {
		t.Errorf("--no-diagnostics made a folder (%v)", err)
	}
	if without := hits.Load(); without >= withDiagnosis {
		t.Errorf("%d requests without a diagnosis, %d with one: it sent none", without, withDiagnosis)
	}

	if code, _, errOut := kbrun("run", pipeline, "--server", srv.URL, "--diagnostics", dir, "--no-diagnostics"); code != 2 || !strings.Contains(errOut, "--diagnostics and --no-diagnostics cannot be used together") {
		t.Errorf("both flags: exit %d, want 2\n%s", code, errOut)
	}
}
