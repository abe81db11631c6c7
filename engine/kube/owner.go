package kube

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The marks kbrun puts on what a run creates (docs/ownership.md).
const (
	// LabelRun is the run id of the run that owns the object.
	LabelRun = "kbrun.dev/run"
	// LabelPipeline is the name of that run's pipeline.
	LabelPipeline = "kbrun.dev/pipeline"
	// AnnotationLease names the owning run's Lease: "<namespace>/<name>".
	AnnotationLease = "kbrun.dev/lease"
)

// Owner marks what a run creates as the run's and records it in the
// cluster, so that what a killed run left can be found and deleted later
// (engine/ownership implements it; docs/ownership.md).
type Owner interface {
	// Claim decides, right before an object is applied, whose it is. live is
	// the object as it is now (nil: absent); home is the run's namespace.
	// A user's object stays the user's (Existed); an absent one, or one an
	// ended run left, becomes the run's (marked by Mark, recorded first); an
	// object a live run holds is refused, except a Namespace, which the runs
	// share. Claim may wait, bounded, to tell whether a run is still alive.
	Claim(ctx context.Context, home string, ref ObjectRef, live *unstructured.Unstructured, logf func(string, ...any)) (Claim, error)
	// Applied completes the record of a claimed object once the server
	// has applied it (ref carries its UID).
	Applied(ctx context.Context, home string, ref ObjectRef) error
	// Leftovers returns what ended runs of the same pipeline left, found
	// through their records in home, for cleanup to delete.
	Leftovers(ctx context.Context, home string, logf func(string, ...any)) ([]ObjectRef, error)
	// Holder names a live run, other than this one, that works in
	// namespace ns ("" when none): cleanup must not delete it under it.
	Holder(ctx context.Context, ns string) (string, error)
}

// Claim is an Owner's decision about one object.
type Claim struct {
	// Existed: the object is not this run's (a user's, or a Namespace a
	// live run holds); the run may update it, and cleanup leaves it.
	Existed bool
	// Run is the run the object's kbrun.dev/run label names after the apply.
	Run string
	// LeftBy is the gone run the object is taken over from.
	LeftBy string
	// Mark sets the ownership labels, annotations and owner reference on
	// the object to apply; nil leaves it as it is.
	Mark func(obj *unstructured.Unstructured)
}
