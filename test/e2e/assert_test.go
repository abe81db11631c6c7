//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestAssert runs testdata/assert.yaml: an assert that passes only after
// the test scales the Deployment (it acts when the task says it is
// watching), selectors with all and any, absent with and without
// stableFor, and three that fail: a timeout with the field's difference,
// every pod differing by a label, and an object that must be absent,
// quoted.
func TestAssert(t *testing.T) {
	const ns = "e2e-assert"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kbrunBin, "run", filepath.Join(repoRoot, "test", "e2e", "testdata", "assert.yaml"), "-o", "json", "--kubeconfig", kubeconfig)
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
	ends := map[string]event{}
	var scaledAt time.Time
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
		case e.Type == "task.log" && e.Task == "scaled" && strings.HasPrefix(e.Line, "watching until they match: 1 of 1") && scaledAt.IsZero():
			// The assert has seen web at 1 replica: scale it, as a controller would.
			scaledAt = time.Now()
			if _, err := client.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}); err != nil {
				t.Errorf("scale web: %v", err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kbrun run: %v\n%s", err, stderr.String())
	}
	if scaledAt.IsZero() {
		t.Fatalf("scaled never said it was watching: %+v", ends["scaled"])
	}
	for _, task := range []string{"namespace", "web", "scaled", "allRunning", "anyWeb", "noFailed", "noLegacy", "cleanup"} {
		if ends[task].Status != "ok" {
			t.Errorf("task %s: %+v, want ok", task, ends[task])
		}
	}
	if names, _ := ends["allRunning"].Outputs["names"].([]any); len(names) != 3 {
		t.Errorf("allRunning matched %v, want the 3 pods", names)
	}
	if names, _ := ends["anyWeb"].Outputs["names"].([]any); len(names) != 3 {
		t.Errorf("anyWeb matched %v, want the 3 pods", names)
	}
	if d := time.Duration(ends["noFailed"].Duration) * time.Millisecond; d < 3*time.Second {
		t.Errorf("noFailed ended after %s, before its stableFor of 3s", d)
	}
	for task, wants := range map[string][]string{
		"tooFew":  {"timed out (context deadline exceeded) waiting until every expected object matches; 1 of 1 does not:\ndeployment e2e-assert/web (inline manifest#1) differs:\n  status.readyReplicas: expected ${ self >= 5 }, got 3"},
		"notAll":  {"every pod labelled app=web in e2e-assert (inline manifest#1): 3 of 3 differ", `metadata.labels.tier: expected ${ self == 'db' }, got nothing (the field is absent)`},
		"present": {"of the 20s that nothing may match: deployment e2e-assert/web matches what must be absent (inline manifest#1):\n  spec:\n    replicas: 3"},
	} {
		e := ends[task]
		if e.Status != "failed" {
			t.Errorf("task %s: %+v, want failed", task, e)
		}
		for _, want := range wants {
			if !strings.Contains(e.Error, want) {
				t.Errorf("task %s's error lacks %q:\n%s", task, want, e.Error)
			}
		}
	}
	if d := time.Duration(ends["present"].Duration) * time.Millisecond; d > 10*time.Second {
		t.Errorf("present failed after %s, want at once (the object matches from the start)", d)
	}
	namespaceGone(t, ns)
}
