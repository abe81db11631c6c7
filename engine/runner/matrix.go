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
	"github.com/kbrun/kbrun/engine/tmpl"
)

// matrix runs a matrix task: each cell (the task, or its group, with
// .matrix set to the cell's values) runs as a task of its own, up to
// maxParallel at once, with the task's timeout and retry policy each. The
// task's output is .tasks.NAME.cells, one entry per cell with its matrix
// values, status, error and outputs. A failing cell fails the task and
// stops the others, unless the task may fail (continueOnError): then a
// failed cell is data, and the other cells go on.
func (r *runner) matrix(ctx context.Context, t *pipeline.Task, idx string, start time.Time, finally bool, groupData map[string]any) error {
	data := groupData
	if data == nil {
		data = r.snapshot()
	}
	cells, _, err := r.pp.Cells(t, prepare.Data{Values: data})
	if err != nil {
		return r.fail(t, idx, start, 0, nil, err, finally)
	}
	limit := t.MaxParallel
	if limit <= 0 || limit > len(cells) {
		limit = len(cells)
	}
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: idx, Finally: finally, Describe: describeMatrix(t, len(cells), limit)})
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	var stopMu sync.Mutex
	stopped := "" // why no further cell starts (until held)
	// Cells start in order (a ladder with maxParallel 1 goes from its
	// first cell on): the semaphore is taken here, before each goroutine.
	for i, c := range cells {
		ct := cellTask(t, c)
		cidx := fmt.Sprintf("%s.%d", idx, i+1)
		cdata := prepare.Data{Values: data}.WithMatrix(c.Values).Values
		select {
		case sem <- struct{}{}:
		case <-gctx.Done():
		}
		stopMu.Lock()
		why := stopped
		stopMu.Unlock()
		switch {
		case gctx.Err() != nil:
			r.skip(ct, cidx, "not started: "+causeText(gctx))
			continue
		case why != "":
			<-sem
			r.skip(ct, cidx, "not started: "+why)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = r.runOne(gctx, ct, cidx, finally, cdata)
			out := r.ended(ct.Name)
			if t.Until != "" {
				if held, err := r.until(t, c, out, data); err != nil || held {
					stopMu.Lock()
					if stopped == "" {
						stopped = fmt.Sprintf("until %q held for %s", t.Until, ct.Name)
						if err != nil {
							stopped = fmt.Sprintf("until %q failed for %s: %v", t.Until, ct.Name, err)
						}
					}
					stopMu.Unlock()
				}
			}
			if out["status"] == report.StatusFailed && !t.ContinueOnError {
				once.Do(func() {
					first = fmt.Errorf("cell %s failed: %v", ct.Name, out["error"])
					cancel(fmt.Errorf("cell %s of the same matrix failed", ct.Name))
				})
			}
		}()
	}
	wg.Wait()
	var out []any
	failed := 0
	for _, c := range cells {
		entry := map[string]any{"name": c.Label, "matrix": c.Values}
		for k, v := range r.ended(c.Label) {
			entry[k] = v
		}
		if t.Type == pipeline.ParallelType {
			for _, ch := range t.Children {
				entry[ch.Name] = r.ended(cellName(ch.Name, c))
			}
		}
		if entry["status"] == report.StatusFailed {
			failed++
		}
		out = append(out, entry)
	}
	res := TaskResult{Status: report.StatusOK, Attempts: 1, Duration: time.Since(start), Outputs: map[string]any{pipeline.CellsOutput: out}}
	reason := fmt.Sprintf("%d of %d cells ok", len(cells)-failed, len(cells))
	if failed == 0 {
		r.end(t, idx, res, reason)
		return nil
	}
	res.Status = report.StatusFailed
	if first == nil {
		first = fmt.Errorf("%d of %d cells failed", failed, len(cells))
	}
	res.Err = first
	r.end(t, idx, res, reason)
	if t.ContinueOnError {
		return nil
	}
	return &exit.TaskError{Task: t.Name, Err: first}
}

// until renders a matrix task's until for a cell that ended, with .cell.
func (r *runner) until(t *pipeline.Task, c prepare.Cell, out map[string]any, data map[string]any) (bool, error) {
	cell := map[string]any{"name": c.Label, "matrix": c.Values}
	for k, v := range out {
		cell[k] = v
	}
	d := make(map[string]any, len(data)+1)
	for k, v := range data {
		d[k] = v
	}
	d["cell"] = cell
	s, err := tmpl.Render("until", t.Until, d)
	if err != nil {
		return false, err
	}
	return tmpl.Truthy(s), nil
}

// ended returns what a task that ended left in .tasks.
func (r *runner) ended(name string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, _ := r.outputs[name].(map[string]any)
	return m
}

// cellTask is the task one cell runs: t under the cell's name, without the
// matrix, allowed to fail (the matrix task judges); a group's children are
// renamed per cell, so that each cell's outputs and events are its own.
func cellTask(t *pipeline.Task, c prepare.Cell) *pipeline.Task {
	ct := *t
	ct.Name, ct.Matrix, ct.ContinueOnError = c.Label, nil, true
	ct.Local = "" // a cell is not what its library's templates name
	ct.Children = cellChildren(t.Children, c)
	return &ct
}

// cellChildren renames a matrix group's (or use's) tasks for one cell, at
// every depth.
func cellChildren(ts []*pipeline.Task, c prepare.Cell) []*pipeline.Task {
	var out []*pipeline.Task
	for _, ch := range ts {
		cc := *ch
		cc.Name = cellName(ch.Name, c)
		cc.Children = cellChildren(ch.Children, c)
		out = append(out, &cc)
	}
	return out
}

// cellName names a group child in one cell: "builder[seed,copy]".
func cellName(child string, c prepare.Cell) string {
	return child + c.Label[strings.IndexByte(c.Label, '['):]
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
