package runner

import (
	"context"
	"time"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
)

// Owner records in the cluster what a run creates (engine/ownership: a
// Lease, made with the first object and renewed while the run goes). Run
// finishes it itself, so that a program calling Run as a library leaves
// no Lease behind.
type Owner interface {
	kube.Owner
	// Finish deletes the run's Lease when nothing of the run is left, or
	// releases it with remaining, saying why (ownership.Ended*).
	Finish(ctx context.Context, remaining []kube.ObjectRef, why string) error
}

var _ Owner = (*ownership.Run)(nil)

// ownerFor is the Owner a run of p uses: none for a plan, which creates
// nothing, nor for a pipeline of local tasks, which has nothing to record
// and no cluster to warn about at its end.
func ownerFor(p *pipeline.Pipeline, o Options) Owner {
	if o.Owner == nil || o.DryRun != task.DryRunNone || !UsesCluster(p, o.Registry) {
		return nil
	}
	return o.Owner
}

// finishOwner deletes the run's Lease when nothing of the run is left, or
// releases it with what is left, so that a later run takes that over at
// once. It waits for an API server that is not answering as long as the
// finally tasks may, until HardCtx ends (a second Ctrl-C); after that, it
// has a few seconds.
func finishOwner(opts Options, res *Result) error {
	if opts.Owner == nil {
		return nil
	}
	why := ownership.EndedIncomplete
	if opts.Keep {
		why = ownership.EndedKept
	}
	ctx, cancel := context.WithTimeout(opts.HardCtx, opts.FinallyTimeout)
	if opts.HardCtx.Err() != nil {
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	}
	defer cancel()
	return opts.Owner.Finish(ctx, res.Applied, why)
}
