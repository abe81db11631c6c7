//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/test/faultproxy"
)

// runThrough runs kbrun in dir against the cluster through the proxy's
// kubeconfig.
func runThrough(t *testing.T, dir, kc string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kbrunBin, append(args, "--kubeconfig", kc)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("kbrun %v: %v", args, err)
	}
	return 0, out.String()
}

// TestInvalidValuesReachNothing runs every pipeline of the meaning corpus
// (cmd/kbrun/app/testdata/meaning: names, namespaces, labels, ports,
// platforms, environment names, capabilities, HTTP headers and paths,
// numbers, durations, conditions, folders whose meaning is wrong) with
// `kbrun run` against the real cluster through the fault proxy (faults
// off): each exits 2, and the proxy's request log stays empty. A value
// known only at run time (a pod name an earlier task prints) fails its
// task before any request about it is sent.
func TestInvalidValuesReachNothing(t *testing.T) {
	p, kc := relStartProxy(t, faultproxy.Options{})
	dir := filepath.Join(repoRoot, "cmd", "kbrun", "app")
	files, _ := filepath.Glob(filepath.Join(dir, "testdata", "meaning", "*.yaml"))
	if len(files) < 40 {
		t.Fatalf("the meaning corpus has %d files, want at least 40", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		args := []string{"run", rel}
		if b, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".args"); err == nil {
			args = append(args, strings.Fields(string(b))...)
		}
		code, out := runThrough(t, dir, kc, args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", rel, code, out)
		}
		if log := p.Log(); len(log) > 0 {
			t.Errorf("%s: %d requests reached the cluster, the first %s %s", rel, len(log), log[0].Method, log[0].Path)
		}
	}

	code, out := runThrough(t, repoRoot, kc, "run", "test/e2e/testdata/meaning-runtime-pod.yaml", "-n", "default")
	if code != 1 || !strings.Contains(out, `meaning-runtime-pod.yaml:10:17: tasks[1].exec.pod: "Web_Pod" is not a valid Pod name`) {
		t.Errorf("run-time pod name: exit %d, want 1 with the template's position\n%s", code, out)
	}
	for _, r := range p.Log() {
		if strings.Contains(r.Path, "Web_Pod") || strings.Contains(r.Path, "/pods") {
			t.Errorf("a request about the invalid pod was sent: %s %s", r.Method, r.Path)
		}
	}
	t.Logf("requests of the run-time case (its run's own Lease): %d", len(p.Log()))
}
