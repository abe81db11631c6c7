package runner

import (
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// plan reports each task as it would run, rendered, without running
// anything. Outputs of tasks that have not run are shown as placeholders
// such as <tasks.builder.pod>.
func (r *runner) plan() {
	for i, t := range r.p.Tasks {
		reason := ""
		if !r.selected(t, i) {
			reason = "not selected"
		}
		r.planOne(t, fmt.Sprint(i+1), reason)
	}
	for i, t := range r.p.Finally {
		reason := "finally"
		if r.opts.Keep {
			reason = "finally, skipped with --keep"
		}
		r.planOne(t, fmt.Sprintf("F%d", i+1), reason)
	}
}

func (r *runner) planOne(t *pipeline.Task, idx, reason string) {
	data := r.data()
	ev := report.Event{Time: time.Now(), Type: report.TaskPlan, Task: t.Name, TaskType: t.Type, Index: idx, Reason: reason, Status: report.StatusPlanned}
	if t.When != "" {
		cond, err := tmpl.Render(t.Name+".when", t.When, data)
		switch {
		case err != nil || strings.Contains(cond, "<tasks."):
			ev.Reason = join(ev.Reason, "runs only when "+t.When)
		case !tmpl.Truthy(cond):
			ev.Reason = join(ev.Reason, fmt.Sprintf("skipped: when %q is %q", t.When, strings.TrimSpace(cond)))
		}
	}
	if t.TimeoutSet {
		if s, err := tmpl.Render(t.Name+".timeout", t.Timeout, data); err == nil {
			ev.Reason = join(ev.Reason, "timeout "+s)
		}
	}
	if t.RetrySet && t.Type != pipeline.ParallelType {
		if t.Retry.Attempts <= 1 {
			ev.Reason = join(ev.Reason, "no retry")
		} else {
			ev.Reason = join(ev.Reason, fmt.Sprintf("up to %d attempts", t.Retry.Attempts))
		}
	}
	if t.Type == pipeline.ParallelType {
		ev.Describe = fmt.Sprintf("run %d tasks in parallel", len(t.Children))
		r.rep.Report(ev)
		for i, c := range t.Children {
			r.planOne(c, fmt.Sprintf("%s.%d", idx, i+1), "")
		}
		return
	}
	typ, _ := r.opts.Registry.Get(t.Type)
	params, err := tmpl.RenderTree(t.Params, data)
	if err != nil {
		ev.Describe = "(parameters cannot be rendered before the run: " + err.Error() + ")"
		ev.Params = t.Params
	} else {
		ev.Params = params
		if a, err := typ.Prepare(task.Params{Value: params, Dir: r.p.Dir, Rendered: true, Namespace: r.namespace}); err != nil {
			ev.Describe = "(invalid parameters: " + err.Error() + ")"
		} else {
			ev.Describe = a.Describe()
		}
	}
	r.rep.Report(ev)
	// Later tasks see this task's outputs as placeholders.
	ph := map[string]any{}
	for _, o := range typ.Outputs() {
		ph[o] = fmt.Sprintf("<tasks.%s.%s>", t.Name, o)
	}
	r.mu.Lock()
	r.outputs[t.Name] = ph
	r.mu.Unlock()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}
