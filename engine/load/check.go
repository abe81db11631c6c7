package load

import (
	"fmt"
	"strconv"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// checker accumulates the problems of one file.
type checker struct {
	l    *Loader
	file string
	dir  string
	abs  string // the file's absolute path, for uses cycles
	sm   *pipeline.SourceMap
	errs *Errors
	// lib is true for a library of tasks (kind: Tasks): it declares
	// params (.params) instead of vars.
	lib bool
	// libs are the library files loaded so far; stack the files that use
	// this one, outermost first.
	libs  *libraries
	stack []string
	// allTasks are every task of the file, for "exists but later" messages.
	allTasks []*pipeline.Task
	// tree is the file's generic data, for messages about what it holds.
	tree any
}

func (c *checker) newErr(pos pipeline.Pos, path []string, msg string) *pipeline.Error {
	return &pipeline.Error{File: c.file, Pos: pos, Path: append([]string(nil), path...), Msg: msg}
}

func (c *checker) errAt(path []string, format string, args ...any) {
	c.errs.Add(c.newErr(c.sm.Value(path), path, fmt.Sprintf(format, args...)))
}

func (c *checker) errAtKey(path []string, format string, args ...any) {
	c.errs.Add(c.newErr(c.sm.Key(path), path, fmt.Sprintf(format, args...)))
}

func sub(path []string, toks ...string) []string {
	out := make([]string, 0, len(path)+len(toks))
	return append(append(out, path...), toks...)
}

// semantic runs the checks the schema cannot express.
func (c *checker) semantic(p *pipeline.Pipeline) {
	vars := map[string]bool{}
	for _, v := range p.Vars {
		vars[v.Name] = true
	}
	c.allTasks = p.AllTasks()
	sc := &scope{vars: vars, seq: map[string]int{}, tasks: map[string]*pipeline.Task{}}
	turn := 0
	for _, list := range [][]*pipeline.Task{p.Tasks, p.Finally} {
		for _, t := range list {
			for _, x := range pipeline.Flatten([]*pipeline.Task{t}) {
				if _, dup := sc.tasks[x.Name]; !dup && x.Name != "" {
					sc.tasks[x.Name], sc.seq[x.Name] = x, turn
				}
			}
			turn++
		}
	}

	c.matrices(p)

	// Unique names across tasks, finally and parallel children.
	seen := map[string][]string{}
	for _, t := range c.allTasks {
		if t.Name == "" {
			continue
		}
		if first, dup := seen[t.Name]; dup {
			c.errAt(sub(t.Path, "name"), "duplicate task name %q (first used at line %d)", t.Name, c.sm.Value(sub(first, "name")).Line)
		} else {
			seen[t.Name] = t.Path
		}
	}

	// Templates outside tasks: namespace and var defaults.
	c.varCycles(p)
	c.templates([]string{"namespace"}, p.Namespace, sc, "")
	for _, v := range p.Vars {
		c.templatesTree(v.Path, v.Default, sc, "vars")
	}

	// finally may read any task's status and error; an output of a main
	// task only where it tested that task's status (see guarded): finally
	// runs also when that task failed or never ran.
	c.taskList(p.Tasks, sc, 0)
	sc.finally = true
	c.taskList(p.Finally, sc, len(p.Tasks))

	// A library's outputs are rendered once all its tasks have ended.
	all := &scope{vars: sc.vars, seq: sc.seq, tasks: sc.tasks, limit: turn}
	for _, o := range p.Outputs {
		c.templates(o.Path, o.Value, all, outputsOwner)
	}
}

// matrices sets what .matrix holds in each task and refuses a matrix
// inside a matrix.
func (c *checker) matrices(p *pipeline.Pipeline) {
	var walk func(ts []*pipeline.Task, outer []string)
	walk = func(ts []*pipeline.Task, outer []string) {
		for _, t := range ts {
			scope := outer
			if len(t.Matrix) > 0 {
				if len(outer) > 0 {
					c.errAtKey(sub(t.Path, "matrix"), "task %q is inside a matrix group: a matrix cannot hold another (put the dimensions on the group)", t.Name)
				}
				scope = t.MatrixKeys()
			}
			t.MatrixScope = scope
			walk(t.Children, scope)
		}
	}
	walk(p.Tasks, nil)
	walk(p.Finally, nil)
}

// scope is what templates may refer to at a point of the pipeline: the
// tasks that have run before it. Tasks are numbered in run order (a group's
// children share the group's turn), and a task sees those numbered below
// its limit, so checking n tasks costs O(n), not O(n²) map copies.
type scope struct {
	vars  map[string]bool
	seq   map[string]int            // task name -> turn
	tasks map[string]*pipeline.Task // every task by name
	limit int                       // tasks with turn < limit are visible
	// finally is set while finally is checked: it reads outputs only
	// guarded. whenGuards are the tasks whose status the task's (or its
	// group's) when tests.
	finally    bool
	whenGuards []string
	// cellOf is the matrix task whose until is checked (.cell).
	cellOf *pipeline.Task
}

func (s *scope) visible(name string) (*pipeline.Task, bool) {
	t, ok := s.tasks[name]
	if !ok || s.seq[name] >= s.limit {
		return nil, false
	}
	return t, true
}

// taskList checks tasks in order; each sees the tasks before it. A parallel
// group's children see what came before the group, not each other. first is
// the turn of the list's first task.
func (c *checker) taskList(ts []*pipeline.Task, sc *scope, first int) {
	for i, t := range ts {
		at := &scope{vars: sc.vars, seq: sc.seq, tasks: sc.tasks, limit: first + i, finally: sc.finally}
		at.whenGuards = statusTests(t.When)
		c.checkTask(t, at)
		for _, ch := range pipeline.Flatten(t.Children) {
			cat := *at
			cat.whenGuards = append(statusTests(ch.When), at.whenGuards...)
			c.checkTask(ch, &cat)
		}
	}
}

func (c *checker) checkTask(t *pipeline.Task, sc *scope) {
	// A matrix task's when and dimensions are decided once, before its
	// cells exist: they cannot use .matrix.
	whenOwner := t.Name
	if len(t.Matrix) > 0 {
		whenOwner = matrixOuter
		for _, d := range t.Matrix {
			path := sub(t.Path, "matrix", d.Name)
			c.templatesTree(path, d.Values, sc, matrixOuter)
			if list, ok := d.Values.([]any); ok {
				for _, p := range pipeline.AxisProblems(d.Name, list, t.MatrixAllowEmpty) {
					at := path
					if p.Index >= 0 {
						at = sub(path, strconv.Itoa(p.Index))
					}
					c.errAt(at, "%s", p.Msg)
				}
			}
		}
		u := *sc
		u.cellOf = t
		c.templates(sub(t.Path, "until"), t.Until, &u, matrixUntil)
	}
	c.templates(sub(t.Path, "when"), t.When, sc, whenOwner)
	if tmpl.Has(t.Timeout) {
		c.templates(sub(t.Path, "timeout"), t.Timeout, sc, t.Name)
	}
	if t.Type == pipeline.UsesType {
		c.checkWith(t, sc)
		return
	}
	if t.Type == "" || t.Type == pipeline.ParallelType {
		return
	}
	c.templatesTree(sub(t.Path, t.Type), t.Params, sc, t.Name)
	typ, _ := c.l.reg.Get(t.Type)
	if _, isMap := t.Params.(map[string]any); !isMap {
		return // the schema reported the wrong type
	}
	if ch, ok := typ.(task.Checker); ok {
		for _, fe := range ch.Check(task.Params{Value: t.Params, Dir: c.dir}) {
			path := sub(sub(t.Path, t.Type), fe.Path...)
			c.errAt(path, "%s", fe.Message)
		}
	}
}
