package delete

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		{"kind": "pod", "name": "a", "includeExisting": true},
	} {
		if _, err := (Type{}).Prepare(task.Params{Value: bad, Rendered: true}); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	for p, want := range map[*map[string]any]string{
		{"applied": true}:                                                      "delete everything this run created (newest first) and wait until they are gone",
		{"applied": true, "includeExisting": true}:                             "delete everything this run applied, also what existed before (newest first) and wait until they are gone",
		{"kind": "deployment", "name": "web", "namespace": "ones"}:             "delete deployment web in namespace ones and wait until it is gone",
		{"kind": "pods", "selector": "app=x", "wait": false}:                   "delete every pods labelled app=x in namespace run-ns",
		{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}: "delete the objects in an inline manifest (configmap run-ns/a) and wait until they are gone",
	} {
		a, err := Type{}.Prepare(task.Params{Value: *p, Rendered: true, Namespace: "run-ns"})
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

// Cleanup deletes what the run created and leaves what it found (a team's
// namespace applied "to make sure"), unless includeExisting says otherwise.
func TestDeleteAppliedLeavesWhatExisted(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	for _, tc := range []struct {
		params      map[string]any
		wantDeleted []string
		wantLeft    []string
	}{
		{map[string]any{"applied": true}, []string{"ConfigMap/ones/created"}, []string{"found"}},
		{map[string]any{"applied": true, "includeExisting": true}, []string{"ConfigMap/ones/created", "ConfigMap/ones/found"}, nil},
	} {
		obj := func(name string) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": "ones", "uid": "uid-" + name}}}
		}
		dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{cm: "ConfigMapList"}, obj("found"), obj("created"))
		applied := &kube.AppliedSet{}
		applied.Add(
			kube.ObjectRef{GVR: cm, Kind: "ConfigMap", Namespace: "ones", Name: "found", UID: "uid-found", Existed: true},
			kube.ObjectRef{GVR: cm, Kind: "ConfigMap", Namespace: "ones", Name: "created", UID: "uid-created"},
		)
		env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Applied: applied,
			Logf: func(string, ...any) {},
			Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: meta.NewDefaultRESTMapper(nil)}}}
		a, err := Type{}.Prepare(task.Params{Value: tc.params, Rendered: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := a.Run(ctx, env)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(out["deleted"]); got != fmt.Sprint(tc.wantDeleted) {
			t.Errorf("%v: deleted %s, want %v", tc.params, got, tc.wantDeleted)
		}
		list, err := dyn.Resource(cm).Namespace("ones").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, u := range list.Items {
			left = append(left, u.GetName())
		}
		if fmt.Sprint(left) != fmt.Sprint(tc.wantLeft) {
			t.Errorf("%v: left in the cluster %v, want %v", tc.params, left, tc.wantLeft)
		}
	}
}
