package load

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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

// build reads the generic tree into the model. Values of the wrong shape were
// reported by the schema and are skipped here, so that the semantic checks
// still run on everything else and all problems come out at once.
func (c *checker) build(tree any) *pipeline.Pipeline {
	root, _ := tree.(map[string]any)
	p := &pipeline.Pipeline{}
	if md, ok := root["metadata"].(map[string]any); ok {
		p.Name, _ = md["name"].(string)
		p.Description, _ = md["description"].(string)
	}
	p.Namespace, _ = root["namespace"].(string)
	c.sections(root)
	varsKey := "vars"
	if c.lib {
		varsKey = "params"
		p.Kind = pipeline.KindTasks
		p.Outputs = c.outputs(root["outputs"])
	}
	if vars, ok := root[varsKey].(map[string]any); ok {
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		// File order, so that messages and plans follow the file.
		sort.Slice(names, func(i, j int) bool {
			pi, pj := c.sm.Key([]string{varsKey, names[i]}), c.sm.Key([]string{varsKey, names[j]})
			return pi.Line < pj.Line || pi.Line == pj.Line && pi.Col < pj.Col
		})
		for _, n := range names {
			p.Vars = append(p.Vars, c.variable(varsKey, n, vars[n]))
		}
	}
	p.Defaults.Timeout = pipeline.DefaultTimeout
	if d, ok := root["defaults"].(map[string]any); ok {
		if t, ok := d["timeout"].(string); ok {
			p.Defaults.Timeout = t
			c.duration([]string{"defaults", "timeout"}, t)
		}
		p.Defaults.Retry = c.retry([]string{"defaults", "retry"}, d["retry"]).Merge(pipeline.DefaultRetry)
	} else {
		p.Defaults.Retry = pipeline.DefaultRetry
	}
	p.Tasks = c.tasks([]string{"tasks"}, root["tasks"], p.Defaults)
	p.Finally = c.tasks([]string{"finally"}, root["finally"], p.Defaults)
	return p
}

func (c *checker) tasks(path []string, v any, d pipeline.Defaults) []*pipeline.Task {
	list, _ := v.([]any)
	var out []*pipeline.Task
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		out = append(out, c.task(sub(path, strconv.Itoa(i)), m, d))
	}
	return out
}

var commonFields = map[string]bool{"name": true, "description": true, "timeout": true, "retry": true, "when": true, "continueOnError": true, "matrix": true, "maxParallel": true, "until": true, "with": true}

func (c *checker) task(path []string, m map[string]any, d pipeline.Defaults) *pipeline.Task {
	t := &pipeline.Task{Path: path}
	t.Name, _ = m["name"].(string)
	t.Description, _ = m["description"].(string)
	t.When, _ = m["when"].(string)
	t.ContinueOnError, _ = m["continueOnError"].(bool)
	if mp, ok := m["maxParallel"].(int64); ok {
		t.MaxParallel = int(mp)
	}
	t.Until, _ = m["until"].(string)
	if mx, ok := m["matrix"].(map[string]any); ok {
		keys := make([]string, 0, len(mx))
		for k := range mx {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := c.sm.Key(sub(path, "matrix", keys[i])), c.sm.Key(sub(path, "matrix", keys[j]))
			return pi.Line < pj.Line || pi.Line == pj.Line && pi.Col < pj.Col
		})
		for _, k := range keys {
			t.Matrix = append(t.Matrix, pipeline.MatrixDim{Name: k, Values: mx[k]})
		}
	} else {
		for _, f := range []string{"maxParallel", "until"} {
			if _, has := m[f]; has {
				c.errAtKey(sub(path, f), "%s goes with matrix", f)
			}
		}
	}
	t.Timeout = d.Timeout
	if s, ok := m["timeout"].(string); ok {
		t.Timeout, t.TimeoutSet = s, true
		c.duration(sub(path, "timeout"), s)
	}
	_, t.RetrySet = m["retry"].(map[string]any)
	t.Retry = c.retry(sub(path, "retry"), m["retry"]).Merge(d.Retry)

	var types []string
	for k := range m {
		if commonFields[k] {
			continue
		}
		if _, known := c.l.reg.Get(k); known || k == pipeline.ParallelType || k == pipeline.UsesType {
			types = append(types, k)
		}
	}
	sort.Strings(types)
	label := "task"
	if t.Name != "" {
		label = fmt.Sprintf("task %q", t.Name)
	}
	switch len(types) {
	case 0:
		if !c.hasUnknownField(m) { // an unknown field was reported already
			c.errAt(path, "%s has no task type: add one of %s", label, strings.Join(append(c.l.reg.Names(), pipeline.ParallelType, pipeline.UsesType), ", "))
		}
	case 1:
		t.Type = types[0]
		t.Params = m[t.Type]
		if t.Type == pipeline.ParallelType {
			if g, ok := m[t.Type].(map[string]any); ok {
				t.Children = c.tasks(sub(path, pipeline.ParallelType, "tasks"), g["tasks"], d)
			}
		}
		if t.Type == pipeline.UsesType {
			c.uses(t, m)
		}
	default:
		c.errAtKey(sub(path, types[1]), "%s has %d task types (%s): a task has exactly one", label, len(types), strings.Join(types, ", "))
	}
	if _, with := m["with"]; with && t.Type != pipeline.UsesType {
		c.errAtKey(sub(path, "with"), "with gives the params of a library: it goes with uses")
	}
	return t
}

func (c *checker) hasUnknownField(m map[string]any) bool {
	for k := range m {
		if _, known := c.l.reg.Get(k); !known && !commonFields[k] && k != pipeline.ParallelType && k != pipeline.UsesType {
			return true
		}
	}
	return false
}

// retry reads a retry policy, recording which fields were set.
func (c *checker) retry(path []string, v any) pipeline.Retry {
	m, ok := v.(map[string]any)
	if !ok {
		return pipeline.Retry{}
	}
	fields := map[string]any{}
	r := pipeline.Retry{}
	if n, ok := m["attempts"].(int64); ok {
		r.Attempts = int(n)
		fields["attempts"] = true
	}
	for _, f := range []string{"backoff", "maxBackoff"} {
		s, ok := m[f].(string)
		if !ok {
			continue
		}
		if tmpl.Has(s) {
			c.errAt(sub(path, f), "retry durations cannot be templates")
			continue
		}
		dur := c.duration(sub(path, f), s)
		if f == "backoff" {
			r.Backoff = dur
		} else {
			r.MaxBackoff = dur
		}
		fields[f] = true
	}
	switch j := m["jitter"].(type) {
	case float64:
		r.Jitter, fields["jitter"] = j, true
	case int64:
		r.Jitter, fields["jitter"] = float64(j), true
	}
	return pipeline.WithSetFields(r, fields)
}

// duration checks a literal duration; templated ones are checked when rendered.
func (c *checker) duration(path []string, s string) time.Duration {
	if tmpl.Has(s) {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || strings.HasPrefix(s, "-") {
		return 0 // the schema's pattern reported it
	}
	if d <= 0 {
		c.errAt(path, "duration must be positive, got %q", s)
	}
	return d
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

	// finally may use any task's outputs: it runs after them (a task that
	// did not run makes the template fail at run time, with that reason).
	c.taskList(p.Tasks, sc, 0)
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
		at := &scope{vars: sc.vars, seq: sc.seq, tasks: sc.tasks, limit: first + i}
		c.checkTask(t, at)
		for _, ch := range pipeline.Flatten(t.Children) {
			c.checkTask(ch, at)
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
			c.templatesTree(sub(t.Path, "matrix", d.Name), d.Values, sc, matrixOuter)
		}
		c.templates(sub(t.Path, "until"), t.Until, sc, matrixUntil)
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

// templatesTree checks every string in a generic value.
func (c *checker) templatesTree(path []string, v any, sc *scope, owner string) {
	switch x := v.(type) {
	case string:
		c.templates(path, x, sc, owner)
	case []any:
		for i, item := range x {
			c.templatesTree(sub(path, strconv.Itoa(i)), item, sc, owner)
		}
	case map[string]any:
		for k, item := range x {
			c.templatesTree(sub(path, k), item, sc, owner)
		}
	}
}

// templates parses one template string and checks what it refers to.
// owner is "vars" for var defaults (which may not use task outputs).
func (c *checker) templates(path []string, s string, sc *scope, owner string) {
	if !tmpl.Has(s) {
		return
	}
	t, err := tmpl.Parse(pipeline.FieldPath(path), s)
	if err != nil {
		c.errAt(path, "%s", err)
		return
	}
	for _, ref := range tmpl.Refs(t) {
		if msg := c.checkRef(ref, sc, owner); msg != "" {
			c.errAt(path, "%s", msg)
		}
	}
}

var pipelineFields = map[string]bool{"name": true, "dir": true, "file": true, "runId": true}

func (c *checker) checkRef(ref tmpl.Ref, sc *scope, owner string) string {
	dotted := "." + strings.Join(append([]string{ref.Root}, ref.Path...), ".")
	switch ref.Root {
	case "vars":
		if c.lib {
			return fmt.Sprintf("a library's tasks do not see the pipeline's vars (%s): declare a param under params: and have the pipeline give it with with:", dotted)
		}
		if len(ref.Path) > 0 && !sc.vars[ref.Path[0]] {
			return fmt.Sprintf("template refers to undefined var %q (%s)%s", ref.Path[0], dotted, didYouMean(ref.Path[0], keys(sc.vars)))
		}
	case "params":
		if !c.lib {
			return fmt.Sprintf("unknown template data %s: params are declared by libraries of tasks (kind: Tasks); a pipeline has .vars", dotted)
		}
		if len(ref.Path) > 0 && !sc.vars[ref.Path[0]] {
			return fmt.Sprintf("template refers to undefined param %q (%s)%s", ref.Path[0], dotted, didYouMean(ref.Path[0], keys(sc.vars)))
		}
	case "env":
	case "pipeline":
		if len(ref.Path) > 0 && !pipelineFields[ref.Path[0]] {
			return fmt.Sprintf("unknown field %s: .pipeline has name, dir, file and runId", dotted)
		}
	case "matrix":
		return c.checkMatrixRef(ref, owner, dotted)
	case "cell":
		if owner != matrixUntil {
			return fmt.Sprintf("%s exists only in a matrix task's until", dotted)
		}
		return ""
	case "tasks":
		if owner == "vars" {
			if c.lib {
				return fmt.Sprintf("param defaults cannot use task outputs (%s): params are resolved before the library's tasks run", dotted)
			}
			return fmt.Sprintf("var defaults cannot use task outputs (%s): vars are resolved before any task runs", dotted)
		}
		if len(ref.Path) == 0 {
			return ""
		}
		name := ref.Path[0]
		t, ok := sc.visible(name)
		if !ok {
			if name == owner {
				return fmt.Sprintf("task %q refers to its own outputs (%s)", name, dotted)
			}
			if c.taskExists(name) {
				return fmt.Sprintf("template refers to task %q, which has not run at this point (%s): a task can use the outputs of earlier tasks only", name, dotted)
			}
			return fmt.Sprintf("template refers to unknown task %q (%s)", name, dotted)
		}
		if len(ref.Path) > 1 {
			out := ref.Path[1]
			if slices.Contains(task.EndOutputs, out) {
				return "" // every task has them once it ended
			}
			if len(t.Matrix) > 0 {
				if out != pipeline.CellsOutput {
					return fmt.Sprintf("task %q runs as a matrix: its outputs are per cell, in .tasks.%s.cells (%s)", name, name, dotted)
				}
				return ""
			}
			if t.Type == pipeline.ParallelType {
				return fmt.Sprintf("task %q is a parallel group and has no outputs but status and error; use its children's (%s)", name, dotted)
			}
			if t.Type == pipeline.UsesType {
				return usesOutput(t, out, dotted)
			}
			typ, ok := c.l.reg.Get(t.Type)
			if !ok {
				return ""
			}
			if outs := task.OutputsOf(typ, t.Params); !slices.Contains(outs, out) {
				return fmt.Sprintf("task %q (%s) has no output %q (%s); it has: %s", name, t.Type, out, dotted, strings.Join(append(outs, task.EndOutputs...), ", "))
			}
		}
	default:
		if c.lib {
			return fmt.Sprintf("unknown template data %s: use .params, .env, .pipeline or .tasks", dotted)
		}
		return fmt.Sprintf("unknown template data %s: use .vars, .env, .pipeline or .tasks", dotted)
	}
	return ""
}

func (c *checker) taskExists(name string) bool {
	for _, t := range c.allTasks {
		if t.Name == name {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func didYouMean(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(k), strings.ToLower(s)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// matrixOuter is the owner of templates that are decided before a matrix's
// cells exist (its when and its dimensions).
const matrixOuter = " matrix"

// matrixUntil is the owner of a matrix task's until: it sees .cell.
const matrixUntil = " until"

func (c *checker) checkMatrixRef(ref tmpl.Ref, owner, dotted string) string {
	if owner == "vars" {
		return fmt.Sprintf("var defaults cannot use %s: .matrix exists only in a matrix task's cells", dotted)
	}
	if owner == matrixOuter || owner == matrixUntil {
		return fmt.Sprintf("%s is not known yet here: a matrix task's when and dimensions are decided before its cells (use .matrix in its parameters)", dotted)
	}
	t := c.findTask(owner)
	if t == nil || len(t.MatrixScope) == 0 {
		return fmt.Sprintf("template uses %s, but task %q has no matrix (add matrix: to it or to its group)", dotted, owner)
	}
	if len(ref.Path) > 0 && !slices.Contains(t.MatrixScope, ref.Path[0]) {
		return fmt.Sprintf("the matrix has no key %q (%s); it has: %s", ref.Path[0], dotted, strings.Join(t.MatrixScope, ", "))
	}
	return ""
}

func (c *checker) findTask(name string) *pipeline.Task {
	for _, t := range c.allTasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}
