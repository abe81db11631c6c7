package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
)

// matrix walks a matrix task: each cell (the task, or its group or use,
// with .matrix set to the cell's values) is a node of its own, with the
// task's timeout and retry policy. In a run, up to maxParallel cells run at
// once; the task's output is .tasks.NAME.cells, one entry per cell with its
// matrix values, status, error and outputs, read by the cell's index. A
// failing cell fails the task and stops the others, unless the task may
// fail (continueOnError): then a failed cell is data, and the others go on.
func (w *walker) matrix(ctx context.Context, n *node, d prepare.Data, s *scope, start time.Time, pl *planned) error {
	d = frozen(s, d)
	cells, runTime, err := w.r.pp.Cells(n.task, d)
	if !w.run {
		addErrors(w.errs, err)
		pl.cellsRunTime = runTime
		if err == nil && !runTime {
			pl.cells = len(cells)
			for i, c := range n.cells(cells) {
				_ = w.visit(ctx, c, d.WithMatrix(cells[i].Values), nil)
			}
		}
		if n.task.Until != "" {
			_, _, err := w.r.pp.Until(n.task, nil, d)
			addErrors(w.errs, err)
		}
		w.compiled(n, s)
		return nil
	}
	if err != nil {
		return w.fail(n, start, 0, nil, err, s)
	}
	t := n.task
	limit := t.MaxParallel
	if limit <= 0 || limit > len(cells) {
		limit = len(cells)
	}
	w.started(n, describeMatrix(t, len(cells), limit), len(cells))
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	var stopMu sync.Mutex
	stopped := ""      // why no further cell starts (until held)
	var untilErr error // an until that rendered neither true nor false
	nodes := n.cells(cells)
	// Cells start in order (a ladder with maxParallel 1 goes from its
	// first cell on): the semaphore is taken here, before each goroutine.
	for i, cn := range nodes {
		c := cells[i]
		select {
		case sem <- struct{}{}:
		case <-gctx.Done():
		}
		stopMu.Lock()
		why := stopped
		stopMu.Unlock()
		switch {
		case gctx.Err() != nil:
			w.skip(cn, "not started: "+causeText(gctx), nil)
			continue
		case why != "":
			<-sem
			w.skip(cn, "not started: "+why, nil)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = w.visit(gctx, cn, d.WithMatrix(c.Values), nil)
			out := w.r.endedAt(cn.index)
			if t.Until != "" {
				if held, _, err := w.r.pp.Until(t, cellOf(c, out), d); err != nil || held {
					stopMu.Lock()
					if stopped == "" {
						stopped = fmt.Sprintf("until %q held for %s", t.Until, cn.task.Name)
						if err != nil {
							stopped = fmt.Sprintf("until %q failed for %s", t.Until, cn.task.Name)
							untilErr = err
						}
					}
					stopMu.Unlock()
				}
			}
			if out["status"] == report.StatusFailed && !t.ContinueOnError {
				once.Do(func() {
					first = fmt.Errorf("cell %s failed: %v", cn.task.Name, out["error"])
					cancel(fmt.Errorf("cell %s of the same matrix failed", cn.task.Name))
				})
			}
		}()
	}
	wg.Wait()
	if untilErr != nil {
		first = untilErr // the pipeline's error, not a cell's: the task fails
	}
	return w.endMatrix(n, cells, nodes, start, first, untilErr != nil, s)
}

// endMatrix ends a matrix task that ran: its cells output, each cell's
// entry read by the cell's index (a group's cell holds each child's
// outputs under the child's name).
func (w *walker) endMatrix(n *node, cells []prepare.Cell, nodes []*node, start time.Time, first error, fail bool, s *scope) error {
	t := n.task
	var out []any
	failed := 0
	for i, c := range cells {
		entry := map[string]any{"name": c.Label, "matrix": c.Values}
		for k, v := range w.r.endedAt(nodes[i].index) {
			entry[k] = v
		}
		if t.Type == pipeline.ParallelType {
			for j, ch := range t.Children {
				entry[ch.Name] = w.r.endedAt(nodes[i].children[j].index)
			}
		}
		if entry["status"] == report.StatusFailed {
			failed++
		}
		out = append(out, entry)
	}
	res := TaskResult{Status: report.StatusOK, Attempts: 1, Duration: time.Since(start), Outputs: map[string]any{pipeline.CellsOutput: out}}
	reason := fmt.Sprintf("%d of %d cells ok", len(cells)-failed, len(cells))
	if failed == 0 && !fail {
		w.end(n, res, reason, s)
		return nil
	}
	res.Status = report.StatusFailed
	if first == nil {
		first = fmt.Errorf("%d of %d cells failed", failed, len(cells))
	}
	res.Err = first
	w.end(n, res, reason, s)
	if t.ContinueOnError {
		return nil
	}
	return &exit.TaskError{Task: t.Name, Err: first}
}

// cellOf is what an until sees as .cell: the cell that just ended, its
// name, matrix values and what it left.
func cellOf(c prepare.Cell, out map[string]any) map[string]any {
	cell := map[string]any{"name": c.Label, "matrix": c.Values}
	for k, v := range out {
		cell[k] = v
	}
	return cell
}

// endedAt returns what the node at index left when it ended.
func (r *runner) endedAt(index string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended[index]
}

func describeMatrix(t *pipeline.Task, cells, limit int) string {
	dims := make([]string, len(t.Matrix))
	for i, d := range t.Matrix {
		dims[i] = d.Name
	}
	s := fmt.Sprintf("run %d cells of the matrix %s", cells, strings.Join(dims, " × "))
	if limit < cells {
		s += fmt.Sprintf(", %d at once", limit)
	} else {
		s += ", all at once"
	}
	if t.ContinueOnError {
		s += "; a failing cell is recorded, the others go on"
	}
	if t.Until != "" {
		s += fmt.Sprintf("; no further cell starts once %s", t.Until)
	}
	return s
}
