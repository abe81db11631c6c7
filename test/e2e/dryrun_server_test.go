//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// planEvent is what a --dry-run=server plan says of one task.
type planEvent struct {
	Type    string `json:"type"`
	Task    string `json:"task"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Changes []struct {
		Object, Action, Note string
		Fields               []string
	} `json:"changes"`
}

func planEvents(t *testing.T, r result) map[string]planEvent {
	t.Helper()
	out := map[string]planEvent{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e planEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == "task.plan" {
			out[e.Task] = e
		}
	}
	return out
}

func createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relDeleteNamespace(t, name) })
}

// TestServerDryRun: `kbrun plan --dry-run=server` sends the default
// pipeline's objects to the API server with dryRun=All: on an empty
// namespace the builder is reported created, and after a run created it
// (same run id), unchanged; the test Deployment, rendered from the build's
// output, is not checked and says why. A builder that Pod Security
// `restricted` refuses fails the dry run with the admission message. Nothing
// is ever created by a dry run (checked through the API).
func TestServerDryRun(t *testing.T) {
	ns := relNamespace(t, "dryrun")
	createNamespace(t, ns, nil)
	const runID = "20000101000000-d1d1"
	args := []string{"plan", pipeline, "--dry-run=server", "-o", "json", "--set", "namespace=" + ns, "--set", "createNamespace=false", "--run-id", runID}

	r := kbrun(t, args...)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ev := planEvents(t, r)
	builder := ev["builder"]
	if len(builder.Changes) != 1 || builder.Changes[0].Action != "created" || builder.Changes[0].Object != "deployment "+ns+"/kaniko-rootless-demo-deployment" {
		t.Fatalf("builder: %+v", builder)
	}
	test := ev["test"]
	if len(test.Changes) != 1 || test.Changes[0].Action != "not checked" || !strings.Contains(test.Changes[0].Note, "rendered at run time") {
		t.Errorf("test: %+v", test)
	}
	if left := relLeftovers(t, ns); len(left) != 0 {
		t.Fatalf("the dry run created %v", left)
	}

	// The builder as a real run leaves it (--keep), with the same run id:
	// the dry run finds nothing to change.
	if r := kbrun(t, "run", pipeline, "-o", "json", "--only", "builder", "--keep", "--set", "namespace="+ns, "--set", "createNamespace=false", "--run-id", runID); r.code != 0 {
		t.Fatalf("run --only builder: exit %d\n%s", r.code, r.summary())
	}
	r = kbrun(t, args...)
	if r.code != 0 {
		t.Fatalf("second dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b := planEvents(t, r)["builder"]; len(b.Changes) != 1 || b.Changes[0].Action != "unchanged" {
		t.Errorf("builder on the second dry run: %+v", b)
	}
	// A changed var is a configured field.
	r = kbrun(t, append(args, "--set", "capabilities=CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE")...)
	if b := planEvents(t, r)["builder"]; r.code != 0 || len(b.Changes) != 1 || b.Changes[0].Action != "configured" || !strings.Contains(strings.Join(b.Changes[0].Fields, " "), "capabilities.add") {
		t.Errorf("builder with another capability: exit %d %+v", r.code, b)
	}

	// Pod Security restricted, enforced: the builder (root, capabilities)
	// would have its pods refused; a Pod is refused outright.
	strict := relNamespace(t, "dryrun-restricted")
	createNamespace(t, strict, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	r = kbrun(t, "plan", pipeline, "--dry-run=server", "-o", "json", "--set", "namespace="+strict, "--set", "createNamespace=false", "--set", "podSecurityLevel=privileged")
	b := planEvents(t, r)["builder"]
	if r.code != 1 || b.Status != "failed" || !strings.Contains(b.Error, "Pod Security (enforce=restricted in namespace "+strict+") would refuse the pods of deployment") || !strings.Contains(b.Error, "allowPrivilegeEscalation") && !strings.Contains(b.Error, "runAsNonRoot") {
		t.Errorf("builder in a restricted namespace: exit %d %+v\n%s", r.code, b, r.stderr)
	}
	pod := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(pod, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: pod}
tasks:
  - name: pod
    apply:
      namespace: `+strict+`
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata: {name: root}
        spec: {containers: [{name: c, image: kbrun.local/busybox:1.35, securityContext: {privileged: true}}]}
`), 0o644)
	r = kbrun(t, "plan", pod, "--dry-run=server", "-o", "json")
	if p := planEvents(t, r)["pod"]; r.code != 1 || !strings.Contains(p.Error, "violates PodSecurity") {
		t.Errorf("privileged pod in a restricted namespace: exit %d %+v\n%s", r.code, p, r.stderr)
	}
	if left := relLeftovers(t, strict); len(left) != 0 {
		t.Fatalf("the dry runs created %v", left)
	}
}
