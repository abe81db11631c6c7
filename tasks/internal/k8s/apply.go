package k8s

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
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

// Mapping resolves an object's kind to its resource, resetting the cached
// discovery once when the kind is unknown (e.g. a CRD just established).
func Mapping(c *kube.Clients, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		meta.MaybeResetRESTMapper(c.Mapper)
		if c.Discovery != nil {
			c.Discovery.Invalidate()
		}
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster does not know kind %s (apiVersion %s): is its CRD installed?", gvk.Kind, gvk.GroupVersion())
		}
		return nil, apicall.Classify(err, "discover", gvk.String())
	}
	return m, nil
}

// SortForApply orders objects so that what others depend on comes first:
// CRDs, then Namespaces, then the rest in their given order.
func SortForApply(ms []Manifest) []Manifest {
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
	out := append([]Manifest(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Object) < rank(out[j].Object) })
	return out
}

// Apply server-side applies the objects in dependency order (CRDs first,
// waiting for them to be established before their custom resources).
func Apply(ctx context.Context, c *kube.Clients, ms []Manifest, opts ApplyOptions) ([]Applied, error) {
	var out []Applied
	for _, m := range SortForApply(ms) {
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
	_, err := watchtools.UntilWithSync(ctx, ListWatch(ri, sel, ""), &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		return HasCondition(u, "Established", "True"), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", name, err)
	}
	return nil
}

// HasCondition reports whether an object's status.conditions has type t with
// the given status.
func HasCondition(u *unstructured.Unstructured, t, status string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if strings.EqualFold(fmt.Sprint(m["type"]), t) {
			return strings.EqualFold(fmt.Sprint(m["status"]), status)
		}
	}
	return false
}

// Describe names an object for messages: "deployment ones/builder".
func Describe(kind, ns, name string) string {
	k := strings.ToLower(kind)
	if ns == "" {
		return k + " " + name
	}
	return k + " " + ns + "/" + name
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
