package runner

import (
	"fmt"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// checkCluster makes sure, before the first task, that a pipeline with
// cluster tasks has a usable cluster configuration.
func (r *runner) checkCluster() error {
	if r.opts.DryRun == task.DryRunClient || !r.usesCluster() {
		return nil
	}
	if r.opts.Kube == nil {
		return &exit.InvalidError{Err: fmt.Errorf("the pipeline has cluster tasks but no cluster is configured")}
	}
	// Builds the config and clients only: no request is sent yet.
	if _, err := r.opts.Kube.Clients(); err != nil {
		return &exit.InvalidError{Err: fmt.Errorf("the pipeline has cluster tasks, but %w", err)}
	}
	return nil
}

func (r *runner) usesCluster() bool { return UsesCluster(r.p, r.opts.Registry) }

// UsesCluster tells whether any task of p, finally included, is of a type
// that talks to the cluster: a pipeline of local tasks only needs no
// cluster configuration and records nothing in the cluster.
func UsesCluster(p *pipeline.Pipeline, reg *task.Registry) bool {
	for _, t := range p.AllTasks() {
		typ, ok := reg.Get(t.Type)
		if !ok {
			continue
		}
		if ct, ok := typ.(task.ClusterType); ok && ct.UsesCluster() {
			return true
		}
	}
	return false
}

// OutageEvent is the one-line note that the API server stopped answering,
// or answers again, for the run's reporter (kube.Patience.Notify).
func OutageEvent(o kube.Outage) report.Event {
	if o.Back.IsZero() {
		return report.Event{Time: o.Since, Type: report.APIDown, Error: o.Err.Error()}
	}
	return report.Event{Time: o.Back, Type: report.APIBack, DurationMS: o.Back.Sub(o.Since).Milliseconds()}
}
