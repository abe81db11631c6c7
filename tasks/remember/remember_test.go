package remember

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

func run(t *testing.T, env *task.Env, p map[string]any) task.Outputs {
	t.Helper()
	a, err := Type{}.Prepare(task.Params{Value: p, Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRememberAcrossRuns: nothing is found at first; a write creates the
// ConfigMap outside what the run applied (cleanup leaves it), a later read
// finds it, and a second write replaces the data.
func TestRememberAcrossRuns(t *testing.T) {
	typed := fake.NewSimpleClientset()
	applied := &kube.AppliedSet{}
	env := func(runID string) *task.Env {
		return &task.Env{Namespace: "ones", Pipeline: task.PipelineInfo{RunID: runID}, Applied: applied,
			Kube: kube.StaticProvider{C: &kube.Clients{Typed: typed}}}
	}
	read := map[string]any{"name": "kbrun-privilege-abc", "namespace": "default"}
	if out := run(t, env("r1"), read); out["found"] != false || len(out["data"].(map[string]any)) != 0 {
		t.Fatalf("empty cluster: %v", out)
	}
	run(t, env("r1"), map[string]any{"name": "kbrun-privilege-abc", "namespace": "default", "data": map[string]any{"capabilities": "[DAC_OVERRIDE]"}})
	if n := len(applied.List()); n != 0 {
		t.Errorf("the record is among what the run applied (%d objects): cleanup would delete it", n)
	}
	cm, err := typed.CoreV1().ConfigMaps("default").Get(context.Background(), "kbrun-privilege-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["kbrun.dev/run"] != "" || cm.Labels["kbrun.dev/remembered"] != "true" || cm.Annotations["kbrun.dev/remembered-by"] != "r1" {
		t.Errorf("labels %v, annotations %v", cm.Labels, cm.Annotations)
	}
	out := run(t, env("r2"), read)
	if out["found"] != true || out["data"].(map[string]any)["capabilities"] != "[DAC_OVERRIDE]" || out["namespace"] != "default" {
		t.Fatalf("second run: %v", out)
	}
	run(t, env("r3"), map[string]any{"name": "kbrun-privilege-abc", "namespace": "default", "data": map[string]any{"capabilities": "[]"}})
	if out := run(t, env("r4"), read); out["data"].(map[string]any)["capabilities"] != "[]" {
		t.Errorf("after the update: %v", out)
	}
	// No namespace given: the run's.
	if out := run(t, env("r5"), map[string]any{"name": "x"}); out["namespace"] != "ones" {
		t.Errorf("default namespace: %v", out)
	}
}
