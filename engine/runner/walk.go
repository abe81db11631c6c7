package runner

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// walker goes over the plan tree. It is the only walk there is, in two
// modes: the compile walk (validate, plan, and run before anything runs)
// prepares every selected node with stand-ins for the outputs not known
// yet and runs nothing; the run walk prepares each node again right before
// it runs, with the live outputs, and runs it. Groups, matrix cells and
// uses go the same way in both (walk_group.go, walk_matrix.go,
// walk_use.go), so that a plan shows what a run does.
type walker struct {
	r   *runner
	run bool
	// The compile walk's problems, and the nodes it went over, in plan
	// order.
	errs *pipeline.Errors
	plan []*planned
}

// planned is a node as the compile walk found it.
type planned struct {
	node *node
	step *prepare.Step
	// skip says why the node is not prepared (not selected, its group
	// skipped); "" when it is.
	skip string
	// cells is a matrix task's number of cells; cellsRunTime when they
	// depend on outputs known only at run time.
	cells        int
	cellsRunTime bool
	// params are a uses task's params as its library's tasks see them.
	params map[string]any
}

// scope is what templates see at one place of the walk: the pipeline's
// tasks (with .vars), or the tasks of one use of a library (with
// .params), each task's outputs under its name there.
type scope struct {
	vals map[string]any // .vars or .params, .env, .pipeline

	mu    sync.Mutex
	tasks map[string]any
	// pending are the tasks whose outputs are stand-ins (compile walk).
	pending map[string]bool
}

func newScope(vals map[string]any) *scope {
	return &scope{vals: vals, tasks: map[string]any{}, pending: map[string]bool{}}
}

// data is the template data as of now. It reads the live .tasks: tasks in
// sequence read it when nothing else of the scope runs (copying it for
// each of n tasks would cost O(n²)); a group's children and a matrix's
// cells read a copy (frozen).
func (w *walker) data(s *scope) prepare.Data {
	vals := make(map[string]any, len(s.vals)+1)
	for k, v := range s.vals {
		vals[k] = v
	}
	vals["tasks"] = s.tasks
	return prepare.Data{Values: vals, Pending: s.pending, Preview: !w.run}
}

// frozen returns d with a copy of .tasks as of now: the children of a
// group see what came before it, not each other (s is nil when d is a
// copy already).
func frozen(s *scope, d prepare.Data) prepare.Data {
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	tasks, _ := d.Values["tasks"].(map[string]any)
	vals := maps.Clone(d.Values)
	vals["tasks"] = maps.Clone(tasks)
	d.Values, d.Pending = vals, maps.Clone(d.Pending)
	return d
}

// put records what a task leaves in .tasks; nothing for a matrix's cells
// (s nil), whose outputs are the matrix task's.
func (s *scope) put(t *pipeline.Task, outs map[string]any, pending bool) {
	if s == nil {
		return
	}
	name := t.Name
	if t.Use != nil && t.Local != "" {
		name = t.Local // a library's tasks see each other by their names there
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[name] = outs
	if pending {
		s.pending[name] = true
	}
}

// seq walks nodes one after another, each seeing the outputs of those
// before it. In a run, a task that fails (and may not) stops those after
// it unless keepGoing (finally: each may clean up something different),
// and a cancelled ctx stops them; notStarted says that did.
func (w *walker) seq(ctx context.Context, nodes []*node, s *scope, keepGoing bool) (failure error, notStarted bool) {
	for _, n := range nodes {
		if w.run && n.selected {
			if failure != nil && !keepGoing {
				w.skip(n, "not started: an earlier task failed", s)
				continue
			}
			if ctx.Err() != nil {
				w.skip(n, "not started: "+causeText(ctx), s)
				notStarted = true
				continue
			}
		}
		if err := w.visit(ctx, n, w.data(s), s); err != nil && failure == nil {
			failure = err
		}
	}
	return failure, notStarted
}

// visit prepares node n with data d and, in a run, runs it with what is
// under it; its outputs go to s. It returns the task's error unless the
// task may fail (continueOnError).
func (w *walker) visit(ctx context.Context, n *node, d prepare.Data, s *scope) error {
	if !n.selected {
		w.skip(n, n.why, s)
		return nil
	}
	if n.task.Invalid {
		w.invalid(n, s)
		return nil
	}
	start := time.Now()
	st, err := w.r.pp.Task(n.task, d)
	var pl *planned
	if w.run {
		if err != nil {
			return w.fail(n, start, 0, nil, err, s)
		}
	} else {
		addErrors(w.errs, err)
		pl = &planned{node: n, step: st}
		w.plan = append(w.plan, pl)
	}
	if st.Skip != "" {
		if w.run {
			w.end(n, TaskResult{Status: report.StatusSkipped}, st.Skip, s)
		} else {
			s.put(n.task, skippedOutputs(), false)
		}
		w.skipUnder(n, "group skipped", s)
		return nil
	}
	if n.kind == kindMatrix {
		// Each cell has the task's timeout.
		return w.matrix(ctx, n, d, s, start, pl)
	}
	if w.run {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, st.Timeout, &timeoutError{task: n.task.Name, d: st.Timeout})
		defer cancel()
	}
	switch n.kind {
	case kindGroup:
		return w.group(ctx, n, d, s, start)
	case kindUse:
		return w.use(ctx, n, d, s, start, pl)
	}
	return w.action(ctx, n, st, s, start)
}

// compiled gives a node the compile walk prepared stand-ins for its
// outputs, for the tasks after it.
func (w *walker) compiled(n *node, s *scope) {
	s.put(n.task, w.r.pp.Placeholders(n.task), true)
}

// invalid gives a task the loader found problems in (only the compile
// walk of a pipeline that failed to load meets one: see load.Partial)
// stand-ins for its outputs and those of the tasks in it, without
// preparing it: its problems are reported already, and the tasks after it
// are checked as if it were sound.
func (w *walker) invalid(n *node, s *scope) {
	if n.kind == kindGroup {
		for _, c := range n.children {
			w.invalid(c, s)
		}
	}
	w.compiled(n, s)
}

func skippedOutputs() map[string]any {
	return map[string]any{"status": report.StatusSkipped, "error": ""}
}

// skip records that n does not run, nor anything under it.
func (w *walker) skip(n *node, reason string, s *scope) {
	if w.run {
		w.end(n, TaskResult{Status: report.StatusSkipped}, reason, s)
	} else {
		w.plan = append(w.plan, &planned{node: n, step: &prepare.Step{Task: n.task}, skip: reason})
		s.put(n.task, skippedOutputs(), false)
	}
	w.skipUnder(n, reason, s)
}

// skipUnder skips what is under n. A matrix task's cells are not known
// when it does not run: none is listed.
func (w *walker) skipUnder(n *node, reason string, s *scope) {
	switch n.kind {
	case kindMatrix:
		return
	case kindUse:
		s = nil // its tasks' scope, which nothing reads when it does not run
	}
	for _, c := range n.children {
		w.skip(c, reason, s)
	}
}

// end records how n ended in a run: its result, its event, and its
// outputs in s and under its index. Every task that ended has .status and
// .error; outputs are kept whatever the status (a failed exec still has
// its exit code).
func (w *walker) end(n *node, tr TaskResult, reason string, s *scope) {
	r, t := w.r, n.task
	tr.Name, tr.Type, tr.Index = t.Name, t.Type, n.index
	outs := make(map[string]any, len(tr.Outputs)+2)
	for k, v := range tr.Outputs {
		outs[k] = v
	}
	outs["status"], outs["error"] = tr.Status, ""
	if tr.Err != nil {
		outs["error"] = r.secrets.Mask(tr.Err.Error())
	}
	r.mu.Lock()
	r.results = append(r.results, tr)
	r.ended[n.index] = outs
	r.mu.Unlock()
	s.put(t, outs, false)
	ev := report.Event{Time: time.Now(), Type: report.TaskEnd, Task: t.Name, TaskType: t.Type, Index: n.index, Status: tr.Status, Reason: reason, Attempt: tr.Attempts, DurationMS: tr.Duration.Milliseconds()}
	if tr.Err != nil {
		ev.Error = tr.Err.Error()
	}
	if len(tr.Outputs) > 0 {
		ev.Outputs = map[string]any(tr.Outputs)
	}
	r.rep.Report(ev)
}

// fail ends n as failed; its error stops the run unless it may fail.
func (w *walker) fail(n *node, start time.Time, attempts int, outputs task.Outputs, err error, s *scope) error {
	w.end(n, TaskResult{Status: report.StatusFailed, Attempts: attempts, Duration: time.Since(start), Err: err, Outputs: outputs}, "", s)
	if n.task.ContinueOnError {
		return nil
	}
	return &exit.TaskError{Task: n.task.Name, Err: err}
}

// ok ends n as succeeded.
func (w *walker) ok(n *node, start time.Time, attempts int, outputs task.Outputs, reason string, s *scope) {
	w.end(n, TaskResult{Status: report.StatusOK, Attempts: attempts, Duration: time.Since(start), Outputs: outputs}, reason, s)
}

// started reports that n starts; cells is the number of a matrix's cells
// (0 for other tasks), so that a live view knows how far it has to go.
func (w *walker) started(n *node, describe string, cells int) {
	t := n.task
	w.r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: n.index, Finally: n.finally, Describe: describe, Cells: cells})
}
