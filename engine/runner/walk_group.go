package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/prepare"
)

// group walks a parallel group's children, which see what came before the
// group, not each other. In a run they run at once: the first that fails
// (and may not) cancels the others, and the group fails with it.
func (w *walker) group(ctx context.Context, n *node, d prepare.Data, s *scope, start time.Time) error {
	// One copy of the data for all the children (and a nested group's),
	// taken before any of them can end.
	d = frozen(s, d)
	if !w.run {
		for _, c := range n.children {
			_ = w.visit(ctx, c, d, s)
		}
		w.compiled(n, s)
		return nil
	}
	w.started(n, fmt.Sprintf("run %d tasks in parallel", len(n.children)), 0)
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, c := range n.children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.selected && gctx.Err() != nil {
				w.skip(c, "not started: "+causeText(gctx), s)
				return
			}
			if err := w.visit(gctx, c, d, s); err != nil {
				once.Do(func() {
					first = err
					cancel(fmt.Errorf("task %q in the same parallel group failed", c.task.Name))
				})
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return w.fail(n, start, 1, nil, first, s)
	}
	if ctx.Err() != nil {
		return w.fail(n, start, 1, nil, stopped(ctx, nil, 1), s)
	}
	w.ok(n, start, 1, nil, "", s)
	return nil
}
