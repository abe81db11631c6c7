package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/runner"
)

// runOwnership is what a run records in the cluster about itself
// (docs/ownership.md): made before the run, finished after it.
type runOwnership struct {
	run *ownership.Run
}

// newRunOwnership prepares the run's Lease (created with its first object).
func newRunOwnership(runID, pipeline string, provider kube.Provider, leaseDuration time.Duration) (*runOwnership, error) {
	r, err := ownership.New(ownership.Options{RunID: runID, Pipeline: pipeline, Kube: provider, LeaseDuration: leaseDuration})
	if err != nil {
		return nil, &exit.UsageError{Err: err}
	}
	return &runOwnership{run: r}, nil
}

// owner is the kube.Owner for the runner (nil when there is none).
func (o *runOwnership) owner() kube.Owner {
	if o == nil {
		return nil
	}
	return o.run
}

// finish deletes the run's Lease when nothing of the run is left, or
// releases it with what is left, so that a later run takes that over at
// once. It waits for an API server that is not answering as long as the
// finally tasks may (budget), until a second Ctrl-C; after one, it has a
// few seconds.
func (o *runOwnership) finish(hard context.Context, budget time.Duration, res *runner.Result, keep bool, errOut io.Writer) {
	if o == nil {
		return
	}
	why := ownership.EndedIncomplete
	if keep {
		why = ownership.EndedKept
	}
	ctx, cancel := context.WithTimeout(hard, budget)
	if hard.Err() != nil {
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	}
	defer cancel()
	if err := o.run.Finish(ctx, res.Applied, why); err != nil {
		fmt.Fprintf(errOut, "kbrun: warning: %v; `kbrun cleanup --expired` finds what the run left once its lease has expired\n", err)
	}
}
