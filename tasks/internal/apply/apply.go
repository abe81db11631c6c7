// Package apply is server-side apply as a run sends it, and its dry run,
// which is the same request with dryRun=All (kubectl apply
// --dry-run=server) and its answer compared with the live object. Around
// the request it decides whose an object is (ownership marks, the guard
// against a create race) and waits out an object still being deleted.
// The apply, deploy and delete task types share it, so that a plan's dry
// run and the run send the same thing.
package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// Options tune Apply.
type Options struct {
	// Namespace is given to namespaced objects that name none.
	Namespace string
	// Force takes over fields other managers own (--force-conflicts).
	Force bool
	// Task is recorded on each ref.
	Task string
	// Logf reports progress (may be nil).
	Logf func(format string, args ...any)
	// Owner marks and records what the run creates (nil: unmarked), in
	// the run's namespace Home.
	Owner kube.Owner
	Home  string
	// DryRun sends each apply with dryRun=All, as kubectl apply
	// --dry-run=server does: the API server admits, validates and defaults
	// the objects and stores nothing. It waits for nothing (a namespace
	// being deleted, a CRD); give it no Owner, which would record claims.
	DryRun bool
}

// Applied is one object after server-side apply.
type Applied struct {
	Ref     kube.ObjectRef
	Mapping *meta.RESTMapping
	Object  *unstructured.Unstructured // as returned by the server
}

// Order orders objects so that what others depend on comes first:
// CRDs, then Namespaces, then the rest in their given order.
func Order(ms []manifest.Manifest) []manifest.Manifest {
	rank := func(u *unstructured.Unstructured) int {
		gk := u.GroupVersionKind().GroupKind()
		switch {
		case gk.Group == "apiextensions.k8s.io" && gk.Kind == "CustomResourceDefinition":
			return 0
		case gk.Group == "" && gk.Kind == "Namespace":
			return 1
		}
		return 2
	}
	out := append([]manifest.Manifest(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Object) < rank(out[j].Object) })
	return out
}

// Apply server-side applies the objects in dependency order (CRDs first,
// waiting for them to be established before their custom resources).
func Apply(ctx context.Context, c *kube.Clients, ms []manifest.Manifest, opts Options) ([]Applied, error) {
	var out []Applied
	for _, m := range Order(ms) {
		p, err := place(ctx, c, m, opts.Namespace)
		if err != nil {
			return out, err
		}
		a, _, err := applyOne(ctx, c, p, opts)
		if err != nil {
			return out, err
		}
		out = append(out, a)
		if opts.Owner != nil && a.Ref.Run != "" {
			if err := opts.Owner.Applied(ctx, opts.Home, a.Ref); err != nil {
				return out, fmt.Errorf("%s: %w", m.Source, err)
			}
		}
		if gvk := p.obj.GroupVersionKind(); gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, c, a.Mapping, a.Object.GetName()); err != nil {
				return out, err
			}
			meta.MaybeResetRESTMapper(c.Mapper)
			if c.Discovery != nil {
				c.Discovery.Invalidate()
			}
		}
	}
	return out, nil
}

func isApplyConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "conflict") && strings.Contains(err.Error(), "Apply failed")
}

// waitEstablished waits, by watch, for a CRD's Established condition.
func waitEstablished(ctx context.Context, c *kube.Clients, m *meta.RESTMapping, name string) error {
	ri := c.Dynamic.Resource(m.Resource)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	_, err := watchtools.UntilWithSync(ctx, k8s.ListWatch(ri, sel, ""), &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		return k8s.HasCondition(u, "Established", "True"), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", name, err)
	}
	return nil
}

// RefString names a ref for outputs: "Deployment/ones/builder".
func RefString(r kube.ObjectRef) string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// RefOutputs renders refs as template-friendly outputs: a list of maps
// {kind, namespace, name, uid} and a list of "kind/name" strings.
func RefOutputs(refs []kube.ObjectRef) (objects []any, names []any) {
	for _, r := range refs {
		objects = append(objects, map[string]any{"kind": r.Kind, "namespace": r.Namespace, "name": r.Name, "uid": string(r.UID), "created": !r.Existed})
		names = append(names, strings.ToLower(r.Kind)+"/"+r.Name)
	}
	return objects, names
}
