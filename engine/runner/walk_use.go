package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
)

// use walks a uses task: its library's tasks one after another, as one
// task of the pipeline, in a scope of their own: the params the task gives
// (rendered with d, the using file's data; .params) and each other's
// outputs by their names in the library. In a run, the first that fails
// (and may not) stops the others. Its outputs are the library's, rendered
// once its tasks have ended (in the compile walk too, with their
// stand-ins: an output that reads a task that does not run is found then).
func (w *walker) use(ctx context.Context, n *node, d prepare.Data, s *scope, start time.Time, pl *planned) error {
	r, t := w.r, n.task
	params, err := r.pp.Use(t, d)
	if !w.run {
		addErrors(w.errs, err)
		pl.params = params
	}
	if err != nil {
		if w.run {
			return w.fail(n, start, 0, nil, err, s)
		}
		w.skipUnder(n, "not prepared: the params are invalid", s)
		w.compiled(n, s)
		return nil
	}
	inner := newScope(prepare.UseData(r.base, params, nil))
	if w.run {
		w.started(n, describeUse(t), 0)
	}
	failure, _ := w.seq(ctx, n.children, inner, false)
	if !w.run {
		_, err := r.pp.UseOutputs(t, w.data(inner))
		addErrors(w.errs, err)
		w.compiled(n, s)
		return nil
	}
	switch {
	case failure != nil:
		return w.fail(n, start, 1, nil, failure, s)
	case ctx.Err() != nil:
		return w.fail(n, start, 1, nil, stopped(ctx, nil, 1), s)
	}
	outs, err := r.pp.UseOutputs(t, w.data(inner))
	if err != nil {
		return w.fail(n, start, 1, nil, err, s)
	}
	w.ok(n, start, 1, outs, "", s)
	return nil
}

// describeUse says what a uses task runs.
func describeUse(t *pipeline.Task) string {
	names := make([]string, len(t.Children))
	for i, c := range t.Children {
		names[i] = c.Local
	}
	return fmt.Sprintf("run the %d tasks of %s in order: %s", len(t.Children), t.Uses.Lib.File, strings.Join(names, ", "))
}
