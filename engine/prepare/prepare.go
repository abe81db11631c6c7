// Package prepare turns a task of a loaded pipeline into what will run: its
// `when` decided, its timeout parsed, its parameters rendered and checked,
// its manifest files read, rendered and parsed, and its action built.
//
// It is the one path that validate, plan and run share: validate and plan
// prepare every task before anything runs, with the outputs of tasks that
// have not run as stand-ins (task.Placeholder, task.RunTime); run prepares
// each task again right before it runs, by the same code, with the real
// values. What only the real values show (a rendered name that is not
// valid, say) is found then: validate accepting a pipeline does not promise
// that every run of it prepares.
package prepare

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/engine/vars"
)

// Preparer prepares the tasks of one pipeline for one run.
type Preparer struct {
	p   *pipeline.Pipeline
	reg *task.Registry
	// ns is the run's default namespace.
	ns string
	// secrets holds the run's secrets and collects every value computed
	// from one.
	secrets *secret.Set
	cwd     string
	// shown maps an inline manifest that holds pieces of a secret in a
	// Secret's data to the text plans show (forPlan); shared by the
	// copies scope makes.
	shown *sync.Map
}

// Config is what a Preparer needs.
type Config struct {
	Pipeline *pipeline.Pipeline
	Registry *task.Registry
	// Namespace is the run's default namespace.
	Namespace string
	// Secrets holds the run's secrets (see Vars) and receives the values
	// computed from them.
	Secrets *secret.Set
}

// New returns a Preparer.
func New(c Config) *Preparer {
	cwd, _ := os.Getwd()
	return &Preparer{p: c.Pipeline, reg: c.Registry, ns: c.Namespace, secrets: c.Secrets, cwd: cwd, shown: &sync.Map{}}
}

// Data is what templates see when a task is prepared: .vars, .env,
// .pipeline and .tasks.
type Data struct {
	Values map[string]any
	// Pending names the tasks whose outputs are not known yet (plans): a
	// template that computes with one is decided at run time.
	Pending map[string]bool
	// Preview prepares a task whose when is false too, for plans to show
	// what it would do; its problems are dropped (it does not run).
	Preview bool
}

// Step is a prepared task.
type Step struct {
	Task *pipeline.Task
	// Skip says why the task will not run (its when renders false).
	Skip string
	// WhenRunTime: the when depends on outputs known only at run time.
	WhenRunTime bool
	// Timeout bounds the task; TimeoutRunTime when it depends on outputs
	// known only at run time.
	Timeout        time.Duration
	TimeoutRunTime bool
	// Params are the rendered parameters.
	Params any
	// Action is nil for parallel groups and skipped tasks.
	Action task.Action
	// Namespace is the namespace a cluster task uses.
	Namespace string
}

// Namespaced is implemented by actions that work in one namespace, so
// that plans can name it.
type Namespaced interface {
	UsesNamespace() string
}

// Task prepares t with data d. Problems come back as *pipeline.Errors, each
// at its place in the pipeline file or in a manifest file.
func (pp *Preparer) Task(t *pipeline.Task, d Data) (*Step, error) {
	pp = pp.scope(t)
	errs := &pipeline.Errors{}
	st := &Step{Task: t}
	if t.When != "" {
		out, runTime, err := pp.render(t.When, d)
		switch {
		case err != nil:
			pp.add(errs, sub(t.Path, "when"), pp.explain(err, d))
		case runTime || task.IsUnknown(out):
			st.WhenRunTime = true
		default:
			if run, err := valid.Bool(out); err != nil {
				pp.add(errs, sub(t.Path, "when"), err)
			} else if !run {
				st.Skip = fmt.Sprintf("when %q is %q", t.When, strings.TrimSpace(out))
			}
		}
	}
	timeout := t.Timeout
	if timeout == "" {
		timeout = pipeline.DefaultTimeout
	}
	if out, runTime, err := pp.render(timeout, d); err != nil {
		pp.add(errs, sub(t.Path, "timeout"), pp.explain(err, d))
	} else if runTime || task.IsUnknown(out) {
		st.TimeoutRunTime = true
	} else if st.Timeout, err = vars.Duration(out); err != nil || st.Timeout == 0 {
		if err == nil {
			err = fmt.Errorf("%q: a timeout must be longer than 0", out)
		}
		pp.add(errs, sub(t.Path, "timeout"), err)
	}
	if t.IsGroup() || t.Type == "" || len(t.Matrix) > 0 {
		return st, errs.OrNil() // a matrix task's cells are prepared one by one
	}
	if st.Skip != "" {
		if d.Preview && errs.Len() == 0 {
			if preview, err := pp.Task(&pipeline.Task{Name: t.Name, Type: t.Type, Params: t.Params, Path: t.Path, Timeout: t.Timeout}, d); err == nil {
				st.Params, st.Action, st.Namespace = preview.Params, preview.Action, preview.Namespace
			}
		}
		return st, errs.OrNil()
	}
	typePath := sub(t.Path, t.Type)
	params, ok := pp.renderTree(t.Params, typePath, d, errs)
	if !ok {
		return st, errs
	}
	st.Params = pp.forPlan(params)
	typ, _ := pp.reg.Get(t.Type)
	a, err := typ.Prepare(task.Params{Value: params, Dir: pp.p.Dir, Rendered: true, Namespace: pp.ns,
		Manifests: &manifestReader{pp: pp, d: d, field: typePath}, Timeout: st.Timeout})
	if err != nil {
		pp.addPrepareError(errs, typePath, err, d)
		return st, errs
	}
	st.Action = a
	if n, ok := a.(Namespaced); ok {
		st.Namespace = n.UsesNamespace()
	}
	return st, errs.OrNil()
}

// addPrepareError records an error of a type's Prepare at its place: a
// manifest file's line, a parameter, or the task's type key. Several
// problems (task.Problems) are each recorded at theirs.
func (pp *Preparer) addPrepareError(errs *pipeline.Errors, typePath []string, err error, d Data) {
	var list *pipeline.Errors
	var one *pipeline.Error
	many, joined := err.(interface{ Unwrap() []error })
	_, isList := err.(*pipeline.Errors)
	switch {
	case joined && !isList:
		// task.Problems: each at its place, a manifest's problems (a
		// *pipeline.Errors among them) as much as a parameter's.
		for _, e := range many.Unwrap() {
			pp.addPrepareError(errs, typePath, e, d)
		}
	case errors.As(err, &list):
		for _, e := range list.List() {
			errs.Add(e)
		}
	case errors.As(err, &one):
		errs.Add(one)
	default:
		if fp, ok := task.Field(err); ok {
			pp.add(errs, sub(typePath, fp...), errors.New(fieldMessage(err)))
			return
		}
		pp.add(errs, typePath, pp.explain(err, d))
	}
}

// fieldMessage is a FieldError's message without its path (the position
// says where).
func fieldMessage(err error) string {
	var fe task.FieldError
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

func (pp *Preparer) add(errs *pipeline.Errors, path []string, err error) {
	errs.Add(pp.at(path, err.Error()))
}

func (pp *Preparer) at(path []string, msg string) *pipeline.Error {
	pos := pipeline.Pos{Line: 1, Col: 1}
	if pp.p.Source != nil {
		pos = pp.p.Source.Value(path)
	}
	return &pipeline.Error{File: pp.p.File, Pos: pos, Path: append([]string(nil), path...), Msg: msg}
}

// Placeholders are the stand-ins a plan gives the outputs of task t (and
// its status and error) before it has run.
func (pp *Preparer) Placeholders(t *pipeline.Task) map[string]any {
	out := map[string]any{}
	for _, o := range pp.Outputs(t) {
		out[o] = task.Placeholder(t.Name, o)
	}
	return out
}

// Outputs lists what .tasks.NAME holds once t has ended: its type's
// outputs (a matrix task's cells), and the status and error every task has.
func (pp *Preparer) Outputs(t *pipeline.Task) []string {
	var outs []string
	switch {
	case len(t.Matrix) > 0:
		outs = append(outs, pipeline.CellsOutput)
	case t.Type == pipeline.UsesType && t.Uses.Lib != nil:
		for _, o := range t.Uses.Lib.Outputs {
			outs = append(outs, o.Name)
		}
	default:
		if typ, ok := pp.reg.Get(t.Type); ok && t.Type != "" {
			outs = append(outs, task.OutputsOf(typ, t.Params)...)
		}
	}
	for _, o := range task.EndOutputs {
		if !slices.Contains(outs, o) {
			outs = append(outs, o)
		}
	}
	return outs
}

func sub(path []string, toks ...string) []string {
	out := make([]string, 0, len(path)+len(toks))
	return append(append(out, path...), toks...)
}
