package runner

import (
	"errors"
	"fmt"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// planned is a task as the check prepared it, in plan order.
type planned struct {
	step  *prepare.Step
	index string
	// reason is why it does not run as part of the tasks (not selected,
	// finally), "" when it does.
	reason   string
	finally  bool
	selected bool
	// cells is a matrix task's number of cells; cellsRunTime when they
	// depend on outputs known only at run time.
	cells        int
	cellsRunTime bool
	// params are a uses task's params as its library's tasks see them.
	params map[string]any
}

// Check prepares the whole pipeline as `kbrun run` would, with the given
// values and nothing run: every task's when, timeout, parameters and
// manifest files, with the outputs of tasks that have not run as stand-ins.
// It is what `kbrun validate` runs, and what `run` and `plan` run first: a
// pipeline that fails it exits 2 before anything happens.
func Check(p *pipeline.Pipeline, opts Options) error {
	r := newRunner(p, opts.defaults())
	return r.check()
}

// check resolves vars, the namespace and the secrets, and prepares every
// task (see Check).
func (r *runner) check() error {
	if err := r.checkSelection(); err != nil {
		return err
	}
	env := map[string]any{}
	for k, v := range r.opts.Environ {
		env[k] = v
	}
	r.base = map[string]any{
		"env":      env,
		"pipeline": map[string]any{"name": r.p.Name, "dir": r.p.Dir, "file": r.p.File, "runId": r.opts.RunID},
	}
	real, err := vars.Resolve(r.p, r.opts.Overrides, r.base)
	if err != nil {
		return &exit.InvalidError{Err: err}
	}
	r.base["vars"] = real
	r.secrets = &secret.Set{}
	alt := r.maskSecrets(real)
	if err := r.resolveNamespace(); err != nil {
		return err
	}
	r.pp = prepare.New(prepare.Config{Pipeline: r.p, Registry: r.opts.Registry, Namespace: r.namespace, Secrets: r.secrets, AltVars: alt})
	errs := &pipeline.Errors{}
	errs.Reading(r.p.File) // the pipeline's problems first, then its libraries' and manifests'
	r.steps = r.planAll(errs)
	if errs.Len() > 0 {
		return &exit.InvalidError{Err: errs}
	}
	return nil
}

// maskSecrets puts the secret vars' values in the masked set, with the
// values of vars computed from them, and returns the vars with each secret
// replaced by a stand-in (for finding what templates make of secrets).
func (r *runner) maskSecrets(real map[string]any) map[string]any {
	secretVars := vars.Secret(r.p)
	if len(secretVars) == 0 {
		return real
	}
	altOverrides := map[string]any{}
	for k, v := range r.opts.Overrides {
		altOverrides[k] = v
	}
	for _, v := range r.p.Vars {
		if v.Secret && real[v.Name] != nil {
			s := fmt.Sprint(real[v.Name])
			r.secrets.Add(s)
			altOverrides[v.Name] = secret.Alt(s)
		}
	}
	alt, err := vars.Resolve(r.p, altOverrides, r.base)
	if err != nil {
		alt = real // stand-ins broke a check: derived values are masked whole
	}
	for name := range secretVars {
		if real[name] == nil {
			continue
		}
		s := fmt.Sprint(real[name])
		r.secrets.AddDerived(s)
		r.secrets.AddDerived(secret.Segments(s, fmt.Sprint(alt[name]))...)
	}
	return alt
}

// resolveNamespace picks the run's default namespace: -n, else the
// pipeline's, else the kubeconfig context's, else "default".
func (r *runner) resolveNamespace() error {
	switch {
	case r.opts.Namespace != "":
		r.namespace = r.opts.Namespace
	case r.p.Namespace != "":
		ns, err := tmpl.Render("namespace", r.p.Namespace, r.data())
		if err != nil {
			return &exit.InvalidError{Err: fmt.Errorf("%s: namespace: %w", r.p.File, err)}
		}
		r.namespace = ns
	case r.opts.ContextNamespace != nil:
		r.namespace = r.opts.ContextNamespace()
	}
	if r.namespace == "" {
		r.namespace = "default"
	}
	return r.checkNamespace()
}

// planAll prepares every task in run order. Each task sees the tasks before
// it: those that will run with stand-ins for their outputs, those that will
// not (not selected, when known false) with status "skipped" and nothing
// else, as at run time.
func (r *runner) planAll(errs *pipeline.Errors) []*planned {
	pl := &planner{r: r, errs: errs}
	vals := make(map[string]any, len(r.base)+1)
	for k, v := range r.base {
		vals[k] = v
	}
	main := newPlanScope(vals)
	for i, t := range r.p.Tasks {
		sel := r.selected(t, i)
		reason := ""
		if !sel {
			reason = "not selected"
		}
		pl.turn(main, t, fmt.Sprint(i+1), reason, false, sel)
	}
	for i, t := range r.p.Finally {
		reason := "finally"
		if r.opts.Keep {
			reason = "finally, skipped with --keep"
		}
		pl.turn(main, t, fmt.Sprintf("F%d", i+1), reason, true, true)
	}
	return pl.out
}

// planner prepares the tasks of a plan in order.
type planner struct {
	r    *runner
	errs *pipeline.Errors
	out  []*planned
	// ended are the tasks prepared in the current turn; their outputs
	// become visible once the turn is over.
	ended []func()
}

// planScope is what templates see at a point of the plan: the pipeline's
// tasks, or one use of a library's (with its params). Tasks are prepared
// one at a time and a turn's outputs are added once all its tasks are
// prepared, so every task reads the live map.
type planScope struct {
	vals    map[string]any
	tasks   map[string]any
	pending map[string]bool
}

func newPlanScope(vals map[string]any) *planScope {
	tasks := map[string]any{}
	vals["tasks"] = tasks
	return &planScope{vals: vals, tasks: tasks, pending: map[string]bool{}}
}

func (s *planScope) data() prepare.Data {
	return prepare.Data{Values: s.vals, Pending: s.pending, Preview: true}
}

// scopeName is the name a task's outputs have in its scope: its name in
// its library, or in the pipeline.
func scopeName(t *pipeline.Task) string {
	if t.Use != nil && t.Local != "" {
		return t.Local
	}
	return t.Name
}

// turn prepares one task of scope s with everything that runs as part of
// it (a group's children, a use's tasks, a matrix's cells). Children of a
// group see what came before the group, not each other; every task of a
// turn ends before the next turn starts.
func (pl *planner) turn(s *planScope, t *pipeline.Task, idx, reason string, finally, selected bool) {
	d := s.data()
	st := pl.prep(s, t, idx, reason, finally, selected, d)
	switch {
	case len(t.Matrix) > 0:
		if selected && st.Skip == "" {
			last := pl.out[len(pl.out)-1]
			last.cells, last.cellsRunTime = pl.cells(s, t, idx, finally, d)
		}
	case t.Type == pipeline.UsesType:
		pl.use(t, idx, reason, finally, selected, st.Skip != "", d)
	default:
		for i, c := range t.Children {
			cidx := fmt.Sprintf("%s.%d", idx, i+1)
			cSel := selected && st.Skip == "" && (finally || pl.r.childSelected(t, c))
			cReason := ""
			if !cSel && selected {
				cReason = "not selected"
				if st.Skip != "" {
					cReason = "group skipped"
				}
			}
			cst := pl.prep(s, c, cidx, cReason, finally, cSel, d)
			if c.Type == pipeline.UsesType {
				pl.use(c, cidx, cReason, finally, cSel, cst.Skip != "", d)
			}
		}
	}
	for _, f := range pl.ended {
		f()
	}
	pl.ended = pl.ended[:0]
}

// prep prepares one task with data d; its outputs become visible in s when
// the turn ends.
func (pl *planner) prep(s *planScope, t *pipeline.Task, idx, reason string, finally, selected bool, d prepare.Data) *prepare.Step {
	p := &planned{index: idx, reason: reason, finally: finally, selected: selected}
	pl.out = append(pl.out, p)
	name := scopeName(t)
	if !selected {
		p.step = &prepare.Step{Task: t}
		pl.ended = append(pl.ended, func() { s.tasks[name] = map[string]any{"status": "skipped", "error": ""} })
		return p.step
	}
	st, err := pl.r.pp.Task(t, d)
	addErrors(pl.errs, err)
	p.step = st
	pl.ended = append(pl.ended, func() {
		if st.Skip != "" {
			s.tasks[name] = map[string]any{"status": "skipped", "error": ""}
			return
		}
		s.tasks[name] = pl.r.pp.Placeholders(t)
		s.pending[name] = true
	})
	return st
}

// use prepares the tasks of a library for a uses task, in order, in a
// scope of their own: its params (rendered with d, the using file's data)
// and the library's tasks.
func (pl *planner) use(t *pipeline.Task, idx, reason string, finally, selected, skipped bool, d prepare.Data) {
	run := selected && !skipped
	var params map[string]any
	if run {
		p, err := pl.r.pp.Use(t, d)
		addErrors(pl.errs, err)
		params, run = p, err == nil
		for _, x := range pl.out {
			if x.step.Task == t {
				x.params = p
			}
		}
	}
	// The use's own turn goes on after its tasks: keep what it prepared.
	outer := pl.ended
	pl.ended = nil
	s := newPlanScope(prepare.UseData(pl.r.base, params, nil))
	for i, c := range t.Children {
		cReason := reason
		if !run && selected {
			cReason = "group skipped"
		} else if run && !finally && !pl.r.childSelected(t, c) {
			cReason = "not selected"
		}
		pl.turn(s, c, fmt.Sprintf("%s.%d", idx, i+1), cReason, finally, run && (finally || pl.r.childSelected(t, c)))
	}
	pl.ended = outer
}

// addErrors adds the problems of one prepared task.
func addErrors(errs *pipeline.Errors, err error) {
	if err == nil {
		return
	}
	var list *pipeline.Errors
	if errors.As(err, &list) {
		for _, e := range list.List() {
			errs.Add(e)
		}
		return
	}
	var one *pipeline.Error
	if errors.As(err, &one) {
		errs.Add(one)
		return
	}
	errs.Add(&pipeline.Error{Msg: err.Error()})
}

// cells prepares each cell of a matrix task (and each child of a matrix
// group's cells, or the tasks of a matrix use's cells) with its .matrix
// values, for the check and the plan.
func (pl *planner) cells(s *planScope, t *pipeline.Task, idx string, finally bool, d prepare.Data) (n int, runTime bool) {
	cells, runTime, err := pl.r.pp.Cells(t, d)
	addErrors(pl.errs, err)
	if runTime || err != nil {
		return 0, runTime
	}
	for i, c := range cells {
		cd := d.WithMatrix(c.Values)
		ct := cellTask(t, c)
		cidx := fmt.Sprintf("%s.%d", idx, i+1)
		cst := pl.prep(s, ct, cidx, "", finally, true, cd)
		if ct.Type == pipeline.UsesType {
			pl.use(ct, cidx, "", finally, true, cst.Skip != "", cd)
			continue
		}
		for j, ch := range ct.Children {
			pl.prep(s, ch, fmt.Sprintf("%s.%d", cidx, j+1), "", finally, true, cd)
		}
	}
	return len(cells), false
}
