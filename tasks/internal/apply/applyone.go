package apply

import (
	"cmp"
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// placed is a manifest's object with its resource and namespace resolved.
type placed struct {
	source  string
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping
	what    string // "deployment ones/builder"
}

// place resolves m's resource by discovery and gives a namespaced object
// that names no namespace ns (a cluster-scoped one loses any it names).
func place(ctx context.Context, c *kube.Clients, m manifest.Manifest, ns string) (placed, error) {
	obj := m.Object.DeepCopy()
	gvk := obj.GroupVersionKind()
	var mapping *meta.RESTMapping
	err := apicall.Idempotent(ctx, func() (err error) {
		mapping, err = k8s.Mapping(c, gvk)
		return err
	})
	if err != nil {
		return placed{}, fmt.Errorf("%s: %w", m.Source, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj.SetNamespace(cmp.Or(obj.GetNamespace(), ns))
	} else {
		obj.SetNamespace("")
	}
	return placed{source: m.Source, obj: obj, mapping: mapping, what: k8s.Describe(gvk.Kind, obj.GetNamespace(), obj.GetName())}, nil
}

// applyOne sends one object's server-side apply, the run's and the dry
// run's alike (opts.DryRun), and returns it as applied with the object as
// read before (nil when absent, or not read: a run with an Owner assumes a
// new object absent until the guarded apply says otherwise).
func applyOne(ctx context.Context, c *kube.Clients, p placed, opts Options) (Applied, *unstructured.Unstructured, error) {
	gvk := p.obj.GroupVersionKind()
	ns, what := p.obj.GetNamespace(), p.what
	verb := "apply"
	var dryRun []string
	if opts.DryRun {
		verb, dryRun = "apply (dry run)", []string{metav1.DryRunAll}
	}
	// Fields that must not be sent with an apply configuration.
	base := p.obj
	unstructured.RemoveNestedField(base.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(base.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(base.Object, "metadata", "uid")
	unstructured.RemoveNestedField(base.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(base.Object, "status")
	ri := k8s.Scoped(c.Dynamic.Resource(p.mapping.Resource), ns)
	var (
		ref    kube.ObjectRef
		res    *unstructured.Unstructured
		before *unstructured.Unstructured
		err    error
	)
	for races := 0; ; races++ {
		obj := base.DeepCopy()
		// Server-side apply does not say whether it created the object (a
		// 201 whose answer was dropped comes back as 200 when repeated):
		// cleanup deletes only what this run created. What a run applies
		// is usually new, so the first try assumes it is absent and lets
		// the guarded apply say otherwise (createguard.go); Namespaces are
		// usually there already (a team's) and are read first.
		var gerr error
		before = nil
		optimistic := races == 0 && opts.Owner != nil && !(gvk.Group == "" && gvk.Kind == "Namespace")
		if !optimistic {
			before, gerr = k8s.GetIfExists(ctx, ri, obj.GetName())
		}
		existed, known := before != nil, gerr == nil
		if err = gerr; err != nil {
			if !apierrors.IsForbidden(err) {
				return Applied{}, nil, fmt.Errorf("%s: %w", p.source, apicall.Classify(err, "get", what))
			}
			// Without the right to read it, assume it was there: cleanup
			// must never delete what this run did not create.
			existed = true
			if opts.Logf != nil {
				opts.Logf("cannot tell whether %s existed before (get is forbidden): cleanup will leave it", what)
			}
		}
		if existed && known && before.GetDeletionTimestamp() != nil && !opts.DryRun {
			// Applying it now would update what is about to vanish.
			if err := waitDeleted(ctx, ri, before, what, opts.Logf); err != nil {
				return Applied{}, nil, fmt.Errorf("%s: %w", p.source, err)
			}
			before, existed = nil, false
		}
		ref = kube.ObjectRef{GVR: p.mapping.Resource, Kind: gvk.Kind, Namespace: ns, Name: obj.GetName(), Task: opts.Task, Existed: existed}
		if opts.Owner != nil && known {
			claim, err := opts.Owner.Claim(ctx, opts.Home, ref, before, logf(opts.Logf))
			if err != nil {
				return Applied{}, nil, fmt.Errorf("%s: %w", p.source, err)
			}
			ref.Existed, ref.Run, ref.LeftBy = claim.Existed, claim.Run, claim.LeftBy
			if claim.Mark != nil {
				claim.Mark(obj)
			}
		} else if opts.DryRun && before != nil {
			// A dry run claims nothing: the marks the object has stay, as
			// the run keeps or renews them, and show as no change.
			kube.KeepOwnerMarks(before, obj)
		}
		guarded := guardCreate(obj, opts.Owner != nil && known && before == nil)
		// Server-side apply is idempotent: repeat it on transient errors.
		err = apicall.Idempotent(ctx, func() (err error) {
			res, err = ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: opts.Force, DryRun: dryRun})
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
			return Applied{}, nil, fmt.Errorf("%s: %s %s: %w (another field manager owns these fields; set force: true to take them over)", p.source, verb, what, err)
		}
		return Applied{}, nil, fmt.Errorf("%s: %w", p.source, apicall.Classify(err, verb, what))
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
	return Applied{Ref: ref, Mapping: p.mapping, Object: res}, before, nil
}
