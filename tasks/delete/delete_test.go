package delete

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	os.Exit(m.Run())
}

func TestPrepare(t *testing.T) {
	for _, bad := range []map[string]any{
		{},
		{"kind": "deployment"},
		{"kind": "deployment", "name": "a", "selector": "b=c"},
		{"name": "a"},
		{"applied": true, "kind": "pod", "name": "a"},
		{"applied": true, "manifest": "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"},
	} {
		if _, err := (Type{}).Prepare(task.Params{Value: bad, Rendered: true}); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	for p, want := range map[*map[string]any]string{
		{"applied": true}: "delete everything this run applied (newest first) and wait until they are gone",
		{"kind": "deployment", "name": "web", "namespace": "ones"}: "delete deployment web in namespace ones and wait until it is gone",
		{"kind": "pods", "selector": "app=x", "wait": false}:       "delete every pods labelled app=x in the run's namespace",
		{"files": []any{"k8s/a.yaml"}}:                             "delete the objects in k8s/a.yaml and wait until they are gone",
	} {
		a, err := Type{}.Prepare(task.Params{Value: *p, Rendered: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Describe(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestDeleteAppliedNewestFirstNotFoundIsSuccess(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	existing := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "b", "namespace": "ones", "uid": "uid-b"}}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{cm: "ConfigMapList"}, existing)
	applied := &kube.AppliedSet{}
	applied.Add(
		kube.ObjectRef{GVR: cm, Kind: "ConfigMap", Namespace: "ones", Name: "a", UID: "uid-a"},
		kube.ObjectRef{GVR: cm, Kind: "ConfigMap", Namespace: "ones", Name: "b", UID: "uid-b"},
	)
	var logs []string
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Applied: applied,
		Logf: func(f string, a ...any) { logs = append(logs, f) },
		Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: meta.NewDefaultRESTMapper(nil)}}}
	a, _ := Type{}.Prepare(task.Params{Value: map[string]any{"applied": true}, Rendered: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := a.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	got := out["deleted"].([]any)
	if len(got) != 2 || got[0] != "ConfigMap/ones/b" || got[1] != "ConfigMap/ones/a" {
		t.Fatalf("deleted %v", got)
	}
	if len(applied.List()) != 0 {
		t.Fatalf("still recorded: %v", applied.List())
	}
}
