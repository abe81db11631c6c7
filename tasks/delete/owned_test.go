package delete

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// fakeOwner hands out leftovers and a namespace holder.
type fakeOwner struct {
	kube.Owner
	leftovers []kube.ObjectRef
	holders   map[string]string
}

func (f fakeOwner) Leftovers(context.Context, string, func(string, ...any)) ([]kube.ObjectRef, error) {
	return f.leftovers, nil
}

func (f fakeOwner) Holder(_ context.Context, ns string) (string, error) { return f.holders[ns], nil }

// Cleanup deletes the run's objects and what a gone run left, but only
// while they still carry the run label they were recorded with; an object
// another run took over, or a user's, stays; so does a namespace in which
// a live run works, and then the gone run's Lease that lists it.
func TestDeleteOwnedOnlyWhatStillCarriesTheLabel(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	lease := schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	ns := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	obj := func(apiVersion, kind, namespace, name, run string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(namespace)
		u.SetName(name)
		u.SetUID(types.UID("uid-" + name))
		if run != "" {
			u.SetLabels(map[string]string{"kbrun.dev/run": run})
		}
		return u
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cm: "ConfigMapList", lease: "LeaseList", ns: "NamespaceList"},
		obj("v1", "ConfigMap", "ones", "mine", "a"),
		obj("v1", "ConfigMap", "ones", "taken", "z"),     // another run took it over
		obj("v1", "ConfigMap", "ones", "unlabelled", ""), // kbrun's label removed by hand
		obj("v1", "ConfigMap", "ones", "left", "b"),      // left by gone run b
		obj("coordination.k8s.io/v1", "Lease", "ones", "kbrun-run-b", "b"),
		obj("v1", "ConfigMap", "shared", "left2", "c"),
		obj("v1", "Namespace", "", "shared", "c"),
		obj("coordination.k8s.io/v1", "Lease", "ones", "kbrun-run-c", "c"),
	)
	ref := func(gvr schema.GroupVersionResource, kind, namespace, name, run, leftBy string) kube.ObjectRef {
		return kube.ObjectRef{GVR: gvr, Kind: kind, Namespace: namespace, Name: name, Run: run, LeftBy: leftBy}
	}
	applied := &kube.AppliedSet{Owner: fakeOwner{
		leftovers: []kube.ObjectRef{
			ref(lease, "Lease", "ones", "kbrun-run-b", "b", "b"), ref(cm, "ConfigMap", "ones", "left", "b", "b"),
			ref(lease, "Lease", "ones", "kbrun-run-c", "c", "c"), ref(ns, "Namespace", "", "shared", "c", "c"), ref(cm, "ConfigMap", "shared", "left2", "c", "c"),
		},
		holders: map[string]string{"shared": "run d of pipeline p"},
	}}
	applied.Add(
		ref(cm, "ConfigMap", "ones", "mine", "a", ""),
		ref(cm, "ConfigMap", "ones", "taken", "a", ""),
		ref(cm, "ConfigMap", "ones", "unlabelled", "a", ""),
		ref(cm, "ConfigMap", "ones", "gone", "a", ""),
	)
	var logs []string
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Applied: applied,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
		Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: meta.NewDefaultRESTMapper(nil)}}}
	a, _ := Type{}.Prepare(task.Params{Value: map[string]any{"applied": true}, Rendered: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := a.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	want := "[ConfigMap/shared/left2 ConfigMap/ones/left Lease/ones/kbrun-run-b ConfigMap/ones/gone ConfigMap/ones/mine]"
	if got := fmt.Sprint(out["deleted"]); got != want {
		t.Errorf("deleted %s\nwant    %s\nlog:\n%s", got, want, strings.Join(logs, "\n"))
	}
	var left []string
	for _, gvr := range []schema.GroupVersionResource{cm, lease, ns} {
		list, err := dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list.Items {
			left = append(left, u.GetName())
		}
	}
	sort.Strings(left)
	if fmt.Sprint(left) != "[kbrun-run-c shared taken unlabelled]" {
		t.Errorf("left in the cluster %v", left)
	}
	joined := strings.Join(logs, "\n")
	for _, w := range []string{
		"left configmap ones/taken: run z has taken it over",
		"left configmap ones/unlabelled: it no longer carries kbrun's kbrun.dev/run label",
		"left namespace shared: run d of pipeline p works in it",
		"left lease ones/kbrun-run-c: it still lists what run c left in place",
		"deleted configmap ones/left (left by run b)",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("log lacks %q:\n%s", w, joined)
		}
	}
	// What stays recorded: the namespace and the Lease listing it (not
	// the objects others own now).
	var still []string
	for _, r := range applied.List() {
		still = append(still, r.Name)
	}
	if fmt.Sprint(still) != "[kbrun-run-c shared]" {
		t.Errorf("still recorded: %v", still)
	}
}

// A gone run's Lease comes after the last object of that run, even one that
// kept its place among this run's own (the namespace both applied).
func TestGonesLeasesLast(t *testing.T) {
	leaseGVR := schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	deployGVR := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	in := []target{
		{ref: kube.ObjectRef{GVR: leaseGVR, Namespace: "ones", Name: "kbrun-run-a", Run: "a", LeftBy: "a"}},
		{ref: kube.ObjectRef{GVR: deployGVR, Namespace: "ones", Name: "mine", Run: "me"}},
		{ref: kube.ObjectRef{GVR: nsGVR, Name: "ones", Run: "a", LeftBy: "a"}},
		{ref: kube.ObjectRef{GVR: leaseGVR, Namespace: "ones", Name: "kbrun-run-b", Run: "b", LeftBy: "b"}},
	}
	var got []string
	for _, x := range gonesLeasesLast(in) {
		got = append(got, x.ref.Name)
	}
	if want := "mine ones kbrun-run-a kbrun-run-b"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
