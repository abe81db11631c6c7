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
	return nil
}

// planAll prepares every task in run order. Each task sees the tasks before
// it: those that will run with stand-ins for their outputs, those that will
// not (not selected, when known false) with status "skipped" and nothing
// else, as at run time.
func (r *runner) planAll(errs *pipeline.Errors) []*planned {
	tasks := map[string]any{}
	pending := map[string]bool{}
	// Tasks are prepared one at a time and a turn's outputs are added once
	// all its tasks are prepared, so every task reads the live map.
	vals := make(map[string]any, len(r.base)+1)
	for k, v := range r.base {
		vals[k] = v
	}
	vals["tasks"] = tasks
	data := func() prepare.Data { return prepare.Data{Values: vals, Pending: pending, Preview: true} }
	var out []*planned
	var ended []func()
	prep := func(t *pipeline.Task, idx, reason string, finally, selected bool, d prepare.Data) *prepare.Step {
		pl := &planned{index: idx, reason: reason, finally: finally, selected: selected}
		out = append(out, pl)
		if !selected {
			pl.step = &prepare.Step{Task: t}
			ended = append(ended, func() { tasks[t.Name] = map[string]any{"status": "skipped", "error": ""} })
			return pl.step
		}
		st, err := r.pp.Task(t, d)
		addErrors(errs, err)
		pl.step = st
		ended = append(ended, func() {
			if st.Skip != "" {
				tasks[t.Name] = map[string]any{"status": "skipped", "error": ""}
				return
			}
			tasks[t.Name] = r.pp.Placeholders(t)
			pending[t.Name] = true
		})
		return st
	}
	// Children of a group see what came before the group, not each other;
	// every task of a turn ends before the next turn starts.
	turn := func(t *pipeline.Task, idx, reason string, finally, selected bool) {
		d := data()
		st := prep(t, idx, reason, finally, selected, d)
		if len(t.Matrix) > 0 {
			if selected && st.Skip == "" {
				pl := out[len(out)-1]
				pl.cells, pl.cellsRunTime = r.planCells(t, idx, finally, d, errs, prep)
			}
			for _, f := range ended {
				f()
			}
			ended = ended[:0]
			return
		}
		for i, c := range t.Children {
			cidx := fmt.Sprintf("%s.%d", idx, i+1)
			cSel := selected && st.Skip == "" && (finally || r.childSelected(t, c))
			cReason := ""
			if !cSel && selected {
				cReason = "not selected"
				if st.Skip != "" {
					cReason = "group skipped"
				}
			}
			prep(c, cidx, cReason, finally, cSel, d)
		}
		for _, f := range ended {
			f()
		}
		ended = ended[:0]
	}
	for i, t := range r.p.Tasks {
		sel := r.selected(t, i)
		reason := ""
		if !sel {
			reason = "not selected"
		}
		turn(t, fmt.Sprint(i+1), reason, false, sel)
	}
	for i, t := range r.p.Finally {
		reason := "finally"
		if r.opts.Keep {
			reason = "finally, skipped with --keep"
		}
		turn(t, fmt.Sprintf("F%d", i+1), reason, true, true)
	}
	return out
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

// planCells prepares each cell of a matrix task (and each child of a matrix
// group's cells) with its .matrix values, for the check and the plan.
func (r *runner) planCells(t *pipeline.Task, idx string, finally bool, d prepare.Data, errs *pipeline.Errors, prep func(*pipeline.Task, string, string, bool, bool, prepare.Data) *prepare.Step) (n int, runTime bool) {
	cells, runTime, err := r.pp.Cells(t, d)
	addErrors(errs, err)
	if runTime || err != nil {
		return 0, runTime
	}
	for i, c := range cells {
		cd := d.WithMatrix(c.Values)
		ct := cellTask(t, c)
		cidx := fmt.Sprintf("%s.%d", idx, i+1)
		prep(ct, cidx, "", finally, true, cd)
		for j, ch := range ct.Children {
			prep(ch, fmt.Sprintf("%s.%d", cidx, j+1), "", finally, true, cd)
		}
	}
	return len(cells), false
}
