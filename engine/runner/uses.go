package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
)

// use runs a uses task: its library's tasks one after another, as one task
// of the pipeline. Their templates see the params the task gives (.params)
// and each other's outputs by their names in the library; the first that
// fails (and may not) stops the others. Its outputs are the library's,
// rendered once its tasks have ended.
func (r *runner) use(ctx context.Context, t *pipeline.Task, idx string, start time.Time, finally bool, data map[string]any) error {
	if data == nil {
		data = r.data()
	}
	params, err := r.pp.Use(t, prepare.Data{Values: data})
	if err != nil {
		return r.fail(t, idx, start, 0, nil, err, finally)
	}
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: idx, Finally: finally, Describe: describeUse(t)})
	var failure error
	for i, c := range t.Children {
		cidx := fmt.Sprintf("%s.%d", idx, i+1)
		switch {
		case failure != nil:
			r.skip(c, cidx, "not started: an earlier task failed")
		case ctx.Err() != nil:
			r.skip(c, cidx, "not started: "+causeText(ctx))
		case !finally && !r.childSelected(t, c):
			r.skip(c, cidx, "not selected (--only/--skip)")
		default:
			failure = r.runOne(ctx, c, cidx, finally, r.useData(t, params))
		}
	}
	if failure != nil {
		return r.fail(t, idx, start, 1, nil, failure, finally)
	}
	if ctx.Err() != nil {
		return r.fail(t, idx, start, 1, nil, stopped(ctx, nil, 1), finally)
	}
	outs, err := r.pp.UseOutputs(t, prepare.Data{Values: r.useData(t, params)})
	if err != nil {
		return r.fail(t, idx, start, 1, nil, err, finally)
	}
	r.end(t, idx, TaskResult{Status: report.StatusOK, Attempts: 1, Duration: time.Since(start), Outputs: outs}, "")
	return nil
}

// useData is the template data of a use's tasks as of now: its params and
// the outputs of its tasks that ended (a group's children included), by
// their names in the library.
func (r *runner) useData(t *pipeline.Task, params map[string]any) map[string]any {
	tasks := map[string]any{}
	var add func(ts []*pipeline.Task)
	add = func(ts []*pipeline.Task) {
		for _, c := range ts {
			if out := r.ended(c.Name); out != nil {
				tasks[c.Local] = out
			}
			if c.Type == pipeline.ParallelType {
				add(c.Children)
			}
		}
	}
	add(t.Children)
	return prepare.UseData(r.base, params, tasks)
}

// describeUse says what a uses task runs.
func describeUse(t *pipeline.Task) string {
	names := make([]string, len(t.Children))
	for i, c := range t.Children {
		names[i] = c.Local
	}
	return fmt.Sprintf("run the %d tasks of %s in order: %s", len(t.Children), t.Uses.Lib.File, strings.Join(names, ", "))
}
