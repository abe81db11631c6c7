package runner

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// report prints the plan the compile walk made: each task as it would run,
// rendered, outputs of tasks that have not run as stand-ins. With
// --dry-run=server, the tasks that change the cluster also send their
// objects to the API server with dryRun=All and report its verdict.
func (r *runner) report(ctx context.Context) error {
	var failed []string
	server := &task.ServerDryRun{}
	for _, pl := range r.plan {
		ev := r.planEvent(pl)
		if r.opts.DryRun == task.DryRunServer && ev.Status == report.StatusPlanned && !pl.node.finally {
			if sdr, ok := pl.step.Action.(task.ServerDryRunner); ok {
				changes, err := sdr.DryRunServer(ctx, r.dryRunEnv(pl, server))
				ev.Changes = toReport(changes)
				if err != nil {
					ev.Status, ev.Error = report.StatusFailed, err.Error()
					failed = append(failed, pl.step.Task.Name)
				}
			}
		}
		r.rep.Report(ev)
	}
	if len(failed) > 0 {
		return &exit.TaskError{Task: failed[0], Err: fmt.Errorf("the API server refused it in the dry run (%d task(s) refused: %s)", len(failed), strings.Join(failed, ", "))}
	}
	return nil
}

func (r *runner) planEvent(pl *planned) report.Event {
	st, t, n := pl.step, pl.step.Task, pl.node
	ev := report.Event{Time: time.Now(), Type: report.TaskPlan, Task: t.Name, TaskType: t.Type, Index: n.index, Status: report.StatusPlanned, Finally: n.finally, ContinueOnError: t.ContinueOnError, Namespace: st.Namespace}
	var reasons []string
	add := func(s string) { reasons = append(reasons, s) }
	switch {
	case pl.skip != "":
		add(pl.skip)
	case n.finally && n.top():
		add("finally")
	}
	if t.Origin != nil && t.Origin.Source != nil {
		pos := t.Origin.Source.Value(t.Path)
		ev.Origin = fmt.Sprintf("%s:%d", t.Origin.File, pos.Line)
		add("from " + ev.Origin)
	}
	if pl.skip != "" || st.Skip != "" {
		ev.Status = report.StatusSkipped
	}
	switch {
	case st.Skip != "":
		add("skipped: " + st.Skip)
	case st.WhenRunTime:
		add(fmt.Sprintf("runs only when %s (decided at run time)", t.When))
	}
	if t.TimeoutSet {
		if st.TimeoutRunTime {
			add("timeout decided at run time")
		} else {
			add("timeout " + shortDuration(st.Timeout))
		}
	}
	if t.RetrySet && !t.IsGroup() {
		if t.Retry.Attempts <= 1 {
			add("no retry")
		} else {
			add(fmt.Sprintf("up to %d attempts", t.Retry.Attempts))
		}
	}
	if t.ContinueOnError {
		add("continues on error")
	}
	switch {
	case len(t.Matrix) > 0 && pl.cellsRunTime:
		ev.Describe = "run the cells of the matrix " + strings.Join(t.MatrixKeys(), " × ") + " (the cells are decided at run time)"
	case len(t.Matrix) > 0:
		limit := t.MaxParallel
		if limit <= 0 || limit > pl.cells {
			limit = pl.cells
		}
		ev.Describe = describeMatrix(t, pl.cells, limit)
	case t.Type == pipeline.ParallelType:
		ev.Describe = fmt.Sprintf("run %d tasks in parallel", len(t.Children))
	case t.Type == pipeline.UsesType:
		ev.Describe = describeUse(t)
		if pl.params != nil {
			ev.Params = map[string]any{"params": pl.params}
		}
	case st.Action != nil:
		ev.Describe = st.Action.Describe()
		ev.Params = st.Params
		if mu, ok := st.Action.(task.ManifestUser); ok {
			for _, f := range mu.ManifestFiles() {
				if f.RunTime {
					add(fmt.Sprintf("%s is rendered at run time (it computes with outputs of earlier tasks)", f.Name))
					continue
				}
				if r.opts.ShowManifests {
					ev.Manifests = append(ev.Manifests, "# "+f.Name+"\n"+strings.TrimRight(cmp.Or(f.Shown, f.Text), "\n")+"\n")
				}
			}
		}
	}
	ev.Reason = strings.Join(reasons, ", ")
	return ev
}

func (r *runner) dryRunEnv(pl *planned, server *task.ServerDryRun) *task.Env {
	t := pl.step.Task
	return &task.Env{
		Task:      t.Name,
		Pipeline:  task.PipelineInfo{Name: r.p.Name, Dir: r.p.Dir, File: r.p.File, RunID: r.opts.RunID},
		Namespace: r.namespace,
		Logf: func(format string, args ...any) {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskLog, Task: t.Name, TaskType: t.Type, Line: fmt.Sprintf(format, args...)})
		},
		Kube:         r.opts.Kube,
		Applied:      r.applied,
		ServerDryRun: server,
		WorkDir:      r.work,
	}
}

func toReport(cs []task.Change) []report.Change {
	out := make([]report.Change, len(cs))
	for i, c := range cs {
		out[i] = report.Change{Object: c.Object, Action: c.Action, Fields: c.Fields, Note: c.Note}
	}
	return out
}

// shortDuration prints 2m rather than 2m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
