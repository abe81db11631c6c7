package k8s

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/kube"
)

// FieldManager is the server-side apply field manager kbrun uses.
const FieldManager = "kbrun"

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
		return nil, Classify(err, "discover", gvk.String())
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
	ms = SortForApply(ms)
	var out []Applied
	for _, m := range ms {
		obj := m.Object.DeepCopy()
		gvk := obj.GroupVersionKind()
		var mapping *meta.RESTMapping
		err := Idempotent(ctx, func() (err error) {
			mapping, err = Mapping(c, gvk)
			return err
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", m.Source, err)
		}
		ns := ""
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns = obj.GetNamespace()
			if ns == "" {
				ns = opts.Namespace
				obj.SetNamespace(ns)
			}
		} else {
			obj.SetNamespace("")
		}
		what := Describe(gvk.Kind, ns, obj.GetName())
		// Fields that must not be sent with an apply configuration.
		unstructured.RemoveNestedField(obj.Object, "metadata", "managedFields")
		unstructured.RemoveNestedField(obj.Object, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(obj.Object, "metadata", "uid")
		unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(obj.Object, "status")
		ri := Scoped(c.Dynamic.Resource(mapping.Resource), ns)
		base := obj
		var (
			ref kube.ObjectRef
			res *unstructured.Unstructured
		)
		for races := 0; ; races++ {
			obj := base.DeepCopy()
			// Server-side apply does not say whether it created the object (a
			// 201 whose answer was dropped comes back as 200 when repeated):
			// cleanup deletes only what this run created. What a run applies
			// is usually new, so the first try assumes it is absent and lets
			// the guarded apply say otherwise (createguard.go); Namespaces are
			// usually there already (a team's) and are read first.
			var before *unstructured.Unstructured
			var gerr error
			optimistic := races == 0 && opts.Owner != nil && !(gvk.Group == "" && gvk.Kind == "Namespace")
			if !optimistic {
				before, gerr = GetIfExists(ctx, ri, obj.GetName())
			}
			existed, known := before != nil, gerr == nil
			if err = gerr; err != nil {
				if !apierrors.IsForbidden(err) {
					return out, fmt.Errorf("%s: %w", m.Source, Classify(err, "get", what))
				}
				// Without the right to read it, assume it was there: cleanup
				// must never delete what this run did not create.
				existed = true
				if opts.Logf != nil {
					opts.Logf("cannot tell whether %s existed before (get is forbidden): cleanup will leave it", what)
				}
			}
			if existed && known && before.GetDeletionTimestamp() != nil {
				// Applying it now would update what is about to vanish.
				if err := waitDeleted(ctx, ri, before, what, opts.Logf); err != nil {
					return out, fmt.Errorf("%s: %w", m.Source, err)
				}
				before, existed = nil, false
			}
			ref = kube.ObjectRef{GVR: mapping.Resource, Kind: gvk.Kind, Namespace: ns, Name: obj.GetName(), Task: opts.Task, Existed: existed}
			if opts.Owner != nil && known {
				claim, err := opts.Owner.Claim(ctx, opts.Home, ref, before, logf(opts.Logf))
				if err != nil {
					return out, fmt.Errorf("%s: %w", m.Source, err)
				}
				ref.Existed, ref.Run, ref.LeftBy = claim.Existed, claim.Run, claim.LeftBy
				if claim.Mark != nil {
					claim.Mark(obj)
				}
			}
			guarded := guardCreate(obj, opts.Owner != nil && known && before == nil)
			// Server-side apply is idempotent: repeat it on transient errors.
			err = Idempotent(ctx, func() (err error) {
				res, err = ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: opts.Force})
				return raced(guarded, err)
			})
			if isRace(err) && races < maxRaces {
				if opts.Logf != nil && !optimistic {
					opts.Logf("%s was created by someone else after this run found it absent: deciding again whose it is", what)
				}
				continue
			}
			break
		}
		if err != nil {
			if isApplyConflict(err) && !opts.Force {
				return out, fmt.Errorf("%s: apply %s: %w (another field manager owns these fields; set force: true to take them over)", m.Source, what, err)
			}
			return out, fmt.Errorf("%s: %w", m.Source, Classify(err, "apply", what))
		}
		if opts.Logf != nil {
			switch {
			case ref.LeftBy != "":
				opts.Logf("applied %s (taken over from run %s)", what, ref.LeftBy)
			case ref.Existed:
				opts.Logf("applied %s (it existed: updated)", what)
			default:
				opts.Logf("applied %s (created)", what)
			}
		}
		ref.Name, ref.UID = res.GetName(), res.GetUID()
		out = append(out, Applied{Ref: ref, Mapping: mapping, Object: res})
		if opts.Owner != nil && ref.Run != "" {
			if err := opts.Owner.Applied(ctx, opts.Home, ref); err != nil {
				return out, fmt.Errorf("%s: %w", m.Source, err)
			}
		}
		if gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, c, mapping, res.GetName()); err != nil {
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
