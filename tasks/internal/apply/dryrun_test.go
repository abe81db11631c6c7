package apply

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// TestDryRunSendsTheRunsRequest: the server dry run sends the very apply
// the run sends, with dryRun=All, and judges the answer against the live
// object.
func TestDryRunSendsTheRunsRequest(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "ones"},
		"data":     map[string]any{"a": "1"},
	}}
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{cmGVR: "ConfigMapList"}, live)
	var sent []k8stesting.PatchActionImpl
	dyn.PrependReactor("patch", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		sent = append(sent, p)
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(p.Patch); err != nil {
			return true, nil, err
		}
		return true, u, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	c := &kube.Clients{Dynamic: dyn, Mapper: mapper}
	ms, err := manifest.Decode("m.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"2\"}\n")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := Apply(context.Background(), c, ms, Options{Namespace: "ones"}); err != nil {
		t.Fatal(err)
	}
	env := &task.Env{Namespace: "ones", ServerDryRun: &task.ServerDryRun{}}
	changes, err := dryRunChanges(context.Background(), c, &warnings{}, env, Params{}, ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("sent %d applies, want the run's and the dry run's", len(sent))
	}
	run, dry := sent[0], sent[1]
	if string(run.Patch) != string(dry.Patch) || run.Namespace != dry.Namespace || run.Name != dry.Name {
		t.Errorf("the dry run sent\n%s %s/%s\nthe run\n%s %s/%s", dry.Patch, dry.Namespace, dry.Name, run.Patch, run.Namespace, run.Name)
	}
	if run.PatchOptions.DryRun != nil || !slices.Equal(dry.PatchOptions.DryRun, []string{metav1.DryRunAll}) {
		t.Errorf("dryRun: the run's %v, the dry run's %v", run.PatchOptions.DryRun, dry.PatchOptions.DryRun)
	}
	dry.PatchOptions.DryRun = nil
	if !reflect.DeepEqual(run.PatchOptions, dry.PatchOptions) {
		t.Errorf("options: the run's %+v, the dry run's %+v", run.PatchOptions, dry.PatchOptions)
	}
	want := []task.Change{{Object: "configmap ones/settings", Action: Configured, Fields: []string{"data.a"}}}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("changes %+v, want %+v", changes, want)
	}
}

// TestDryRunOfANewNamespace: a namespace the dry run creates is reported
// created, and the objects in it are not checked (the API server cannot
// admit them before it exists).
func TestDryRunOfANewNamespace(t *testing.T) {
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	var dryRuns int
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		if slices.Equal(p.PatchOptions.DryRun, []string{metav1.DryRunAll}) {
			dryRuns++
		}
		u := &unstructured.Unstructured{}
		return true, u, u.UnmarshalJSON(p.Patch)
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	c := &kube.Clients{Dynamic: dyn, Mapper: mapper}
	// The ConfigMap comes first in the file; the Namespace is applied first.
	ms, err := manifest.Decode("m.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: fresh}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n")
	if err != nil {
		t.Fatal(err)
	}
	env := &task.Env{Namespace: "ones", ServerDryRun: &task.ServerDryRun{}}
	changes, err := dryRunChanges(context.Background(), c, &warnings{}, env, Params{}, ms)
	if err != nil {
		t.Fatal(err)
	}
	want := []task.Change{
		{Object: "namespace fresh", Action: Created},
		{Object: "configmap fresh/settings", Action: NotChecked, Note: "its namespace fresh does not exist yet: this run creates it"},
	}
	if !reflect.DeepEqual(changes, want) || dryRuns != 1 || !env.ServerDryRun.WillCreate("fresh") {
		t.Errorf("changes %+v (%d dry runs sent), want %+v (1)", changes, dryRuns, want)
	}
}
