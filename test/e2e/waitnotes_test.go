//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestWaitNotes: a delete that waits on something slow says what, after
// about 2 s and then every 10 s (testdata/wait-notes.yaml): a pod whose
// container ignores SIGTERM waits out its 15 s grace period; a ConfigMap
// waits for a finalizer, which the test removes once the run has named it;
// the namespace waits for what it still holds.
func TestWaitNotes(t *testing.T) {
	const ns = "wait-notes"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kbrunBin, "run", filepath.Join(repoRoot, "test", "e2e", "testdata", "wait-notes.yaml"), "-o", "json", "--kubeconfig", kubeconfig)
	cmd.Dir = repoRoot
	cmd.Env = append(cmd.Environ(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Whatever happened, the finalizer must not keep the namespace.
		_, _ = client.CoreV1().ConfigMaps(ns).Patch(context.Background(), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}()

	notes := map[string][]string{} // task -> its "waiting for" lines
	ends := map[string]event{}
	released := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch {
		case e.Type == "task.end":
			ends[e.Task] = e
		case e.Type == "task.log" && strings.HasPrefix(e.Line, "waiting for "):
			t.Logf("%s | %s", e.Task, e.Line)
			notes[e.Task] = append(notes[e.Task], e.Line)
			if !released && strings.Contains(e.Line, "configmap "+ns+"/held") {
				// The run named the finalizer: remove it, as its controller would.
				released = true
				if _, err := client.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
					t.Errorf("remove the finalizer: %v", err)
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kbrun run: %v\n%s", err, stderr.String())
	}
	for _, task := range []string{"namespace", "held", "stubborn", "stop", "cleanup"} {
		if ends[task].Status != "ok" {
			t.Errorf("task %s: %+v, want ok", task, ends[task])
		}
	}
	namespaceGone(t, ns)

	// The pod: first after 2 s, then 10 s later, each with its grace period.
	pod := regexp.MustCompile(`^waiting for pod wait-notes/stubborn-\S+ to be deleted \((\d+)s so far\): its containers have not stopped on SIGTERM; its grace period of 15s ends in \d+s, then they get SIGKILL$`)
	var at []string
	for _, l := range notes["stop"] {
		if m := pod.FindStringSubmatch(l); m != nil {
			at = append(at, m[1])
		} else {
			t.Errorf("stop: unexpected note %q", l)
		}
	}
	if strings.Join(at, ",") != "2,12" {
		t.Errorf("stop: notes at %v s, want at 2 and 12 (15 s grace period)", at)
	}
	// The finalizer, named in cleanup; then the namespace with what it holds.
	var finalizer, namespace bool
	for _, l := range notes["cleanup"] {
		finalizer = finalizer || strings.HasPrefix(l, "waiting for configmap wait-notes/held to be deleted (2s so far): finalizer kbrun.dev/e2e-hold: the controller that added it has not removed it")
		namespace = namespace || (strings.HasPrefix(l, "waiting for namespace wait-notes to be deleted (") && strings.Contains(l, "remaining"))
	}
	if !finalizer {
		t.Errorf("cleanup did not name the ConfigMap's finalizer: %q", notes["cleanup"])
	}
	if !namespace {
		t.Errorf("cleanup did not say what the namespace still holds (the Deployment's new pod, in its 15 s grace period): %q", notes["cleanup"])
	}
}
