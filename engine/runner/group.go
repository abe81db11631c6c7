package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
)

// group runs a parallel group's children at once. The first child that
// fails (and may not) cancels the others; the group fails with it.
func (r *runner) group(ctx context.Context, t *pipeline.Task, idx string, start time.Time, finally bool, data map[string]any) error {
	// Children see what came before the group (not each other): one copy
	// of the data for all of them (and a nested group's), taken before any
	// of them can end.
	if data == nil {
		data = r.snapshot()
	}
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: idx, Finally: finally, Describe: fmt.Sprintf("run %d tasks in parallel", len(t.Children))})
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, c := range t.Children {
		wg.Add(1)
		go func(i int, c *pipeline.Task) {
			defer wg.Done()
			cidx := fmt.Sprintf("%s.%d", idx, i+1)
			if gctx.Err() != nil {
				r.skip(c, cidx, "not started: "+causeText(gctx))
				return
			}
			if !r.childSelected(t, c) {
				r.skip(c, cidx, "not selected (--only/--skip)")
				return
			}
			if err := r.runOne(gctx, c, cidx, finally, data); err != nil {
				once.Do(func() {
					first = err
					cancel(fmt.Errorf("task %q in the same parallel group failed", c.Name))
				})
			}
		}(i, c)
	}
	wg.Wait()
	if first != nil {
		return r.fail(t, idx, start, 1, nil, first, finally)
	}
	if ctx.Err() != nil {
		return r.fail(t, idx, start, 1, nil, stopped(ctx, nil, 1), finally)
	}
	r.end(t, idx, TaskResult{Status: report.StatusOK, Attempts: 1, Duration: time.Since(start)}, "")
	return nil
}
