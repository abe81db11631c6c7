package runner

import (
	"context"
	"errors"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
)

// Check prepares the whole pipeline as `kbrun run` would, with the given
// values and nothing run: every task's when, timeout, parameters and
// manifest files, with the outputs of tasks that have not run as stand-ins.
// It is what `kbrun validate` runs, and what `run` and `plan` run first: a
// pipeline that fails it exits 2 before anything happens.
func Check(p *pipeline.Pipeline, opts Options) error {
	r := newRunner(p, opts.defaults())
	return prepare.MaskErrors(r.secrets, r.check())
}

// check builds the plan tree and decides the selection, resolves vars, the
// namespace and the secrets, and prepares every selected task: the compile
// walk (see Check).
func (r *runner) check() error {
	r.main, r.fin = buildTree(r.p)
	if err := r.selectTree(r.main, r.fin); err != nil {
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
	real, secrets, err := prepare.Vars(r.p, r.opts.Overrides, r.base)
	r.secrets = secrets
	if err != nil {
		return &exit.InvalidError{Err: err}
	}
	r.base["vars"] = real
	errs := &pipeline.Errors{}
	errs.Reading(r.p.File) // the pipeline's problems first, then its libraries' and manifests'
	// A problem of the pipeline's namespace is one among the others: the
	// tasks are still prepared (those that name their own namespace do
	// not depend on it).
	if err := r.resolveNamespace(); err != nil {
		var list *pipeline.Errors
		if !errors.As(err, &list) {
			return err
		}
		errs.AddAll(list)
	}
	r.pp = prepare.New(prepare.Config{Pipeline: r.p, Registry: r.opts.Registry, Namespace: r.namespace, Secrets: r.secrets})
	// The compile walk: every selected task prepared as the run will, in
	// the run's order, with stand-ins for the outputs of tasks before it.
	w := &walker{r: r, errs: errs}
	top := newScope(r.base)
	w.seq(context.Background(), r.main, top, true)
	w.seq(context.Background(), r.fin, top, true)
	r.plan = w.plan
	if errs.Len() > 0 {
		return &exit.InvalidError{Err: errs}
	}
	return nil
}

// resolveNamespace picks the run's default namespace: -n, else the
// pipeline's, else the kubeconfig context's, else "default".
func (r *runner) resolveNamespace() error {
	switch {
	case r.opts.Namespace != "":
		r.namespace = r.opts.Namespace
	case r.p.Namespace != "":
		ns, err := prepare.Render(r.secrets, r.p.Namespace, r.base)
		if err != nil {
			return &exit.InvalidError{Err: r.namespaceError(err)}
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
