package delete

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// adoptLeftovers adds to the run's set what gone runs of its pipeline left
// (docs/ownership.md), so that cleanup deletes it with the run's own. A
// failure to look is reported, never a reason to skip the run's cleanup.
func adoptLeftovers(ctx context.Context, env *task.Env) {
	if env.Applied == nil || env.Applied.Owner == nil {
		return
	}
	refs, err := env.Applied.Owner.Leftovers(ctx, k8s.Namespace("", env), env.Logf)
	if err != nil {
		k8s.Logf(env, "could not look for what earlier runs of this pipeline left: %v", err)
	}
	env.Applied.Adopt(refs...)
}

// outcome is what deleteOwned did.
type outcome int

const (
	outDeleted outcome = iota // deleted: wait until gone
	outGone                   // already gone
	outNotOurs                // not the run's (any more): forget it, leave it
	outKept                   // left in place, still the run's (recorded)
)

// deleteOwned deletes an object kbrun owns only while it still carries the
// run label it was recorded with: one another run took over, or that no
// longer carries kbrun's label, is left alone. A namespace in which
// another live run works is left too, and so is the Lease of a gone run
// whose objects are left (keptOf: by run; it lists them for later). It
// returns the deleted object's UID.
func deleteOwned(ctx context.Context, env *task.Env, c *kube.Clients, ref kube.ObjectRef, keptOf map[string]bool) (outcome, types.UID, error) {
	what := k8s.Describe(ref.Kind, ref.Namespace, ref.Name)
	switch {
	case ref.Existed:
		k8s.Logf(env, "left %s: it belongs to run %s, which still ran when this run applied it", what, ref.Run)
		return outNotOurs, "", nil
	case keptOf[ref.Run] && ref.GVR.Group == "coordination.k8s.io" && ref.Name == ownership.LeaseName(ref.Run):
		k8s.Logf(env, "left %s: it still lists what run %s left in place", what, ref.Run)
		return outKept, "", nil
	}
	if ref.GVR.Group == "" && ref.GVR.Resource == "namespaces" && env.Applied != nil && env.Applied.Owner != nil {
		holder, err := env.Applied.Owner.Holder(ctx, ref.Name)
		if err != nil {
			k8s.Logf(env, "left %s: cannot tell whether another run works in it: %v", what, err)
			return outKept, "", nil
		}
		if holder != "" {
			k8s.Logf(env, "left %s: %s works in it; it stays recorded for the cleanup of a later run", what, holder)
			return outKept, "", nil
		}
	}
	ri := k8s.Scoped(c.Dynamic.Resource(ref.GVR), ref.Namespace)
	policy := metav1.DeletePropagationBackground
	var (
		out outcome
		uid types.UID
	)
	tries := 0
	err := apicall.Idempotent(ctx, func() error {
		// The workload's kept watch says whether it is still the run's;
		// a repeat (after a conflict) asks the API server.
		live, err := k8s.GetWatched(ctx, c, ri, ref.GVR, ref.Namespace, ref.Name, tries > 0)
		tries++
		if apierrors.IsNotFound(err) {
			out = outGone
			return nil
		}
		if err != nil {
			return err
		}
		if ref.UID != "" && live.GetUID() != ref.UID {
			k8s.Logf(env, "%s was replaced by another object since run %s made it; leaving it", what, ref.Run)
			out = outNotOurs
			return nil
		}
		switch owner := live.GetLabels()[ownership.LabelRun]; owner {
		case ref.Run:
		case "":
			k8s.Logf(env, "left %s: it no longer carries kbrun's %s label", what, ownership.LabelRun)
			out = outNotOurs
			return nil
		default:
			k8s.Logf(env, "left %s: run %s has taken it over", what, owner)
			out = outNotOurs
			return nil
		}
		uid = live.GetUID()
		pre := &metav1.Preconditions{UID: &uid}
		if ref.LeftBy != "" && ref.LeftBy == ref.Run {
			// Left by a gone run: another run may take it over at any
			// moment; delete it only as it was read.
			rv := live.GetResourceVersion()
			pre.ResourceVersion = &rv
		}
		err = ri.Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: pre})
		if apierrors.IsNotFound(err) {
			out = outGone
			return nil
		}
		// A conflict (changed since read) is transient: read it again.
		out = outDeleted
		return err
	})
	if err != nil {
		return out, "", apicall.Classify(err, "delete", what)
	}
	switch out {
	case outDeleted:
		if ref.LeftBy != "" {
			k8s.Logf(env, "deleted %s (left by run %s)", what, ref.LeftBy)
		} else {
			k8s.Logf(env, "deleted %s", what)
		}
	case outGone:
		k8s.Logf(env, "%s was already gone", what)
	}
	return out, uid, nil
}
