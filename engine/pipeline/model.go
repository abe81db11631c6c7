// Package pipeline is the pipeline file: its model, and reading YAML into
// generic data that remembers where every value came from (file:line:col).
package pipeline

import "time"

// APIVersion and Kind identify a pipeline file; KindTasks a library of
// tasks that pipelines use with `uses:`.
const (
	APIVersion = "kbrun.dev/v1alpha1"
	Kind       = "Pipeline"
	KindTasks  = "Tasks"
)

// Pipeline is a loaded, validated pipeline file.
type Pipeline struct {
	// File is the pipeline file's path as given; Dir its absolute folder.
	File string
	Dir  string

	Name        string
	Description string
	// Labels are metadata.labels, for selecting pipelines (-l).
	Labels map[string]string
	// Namespace is the pipeline's default namespace (a template).
	Namespace string
	// Vars in file order.
	Vars     []Var
	Defaults Defaults
	Tasks    []*Task
	Finally  []*Task

	// Source maps instance paths to positions, for errors found later.
	Source *SourceMap

	// Kind is Kind or KindTasks. In a library (KindTasks) Vars are the
	// params its users give with `with:`, read as .params.NAME, and
	// Outputs are what a task that uses it publishes.
	Kind    string
	Outputs []Output
}

// Output is a library's output: a template over its tasks' outputs and
// params, rendered once its tasks have ended.
type Output struct {
	Name        string
	Value       string
	Description string
	Path        []string
}

// IsLibrary reports whether p is a library of tasks (kind: Tasks).
func (p *Pipeline) IsLibrary() bool { return p.Kind == KindTasks }

// VarRoot is the template data that holds p's declared values: .vars in a
// pipeline, .params in a library.
func (p *Pipeline) VarRoot() string {
	if p.IsLibrary() {
		return "params"
	}
	return "vars"
}

// Var is a pipeline variable with its default and what its values must be.
type Var struct {
	Name        string
	Default     any
	Description string
	Secret      bool
	// Type is the declared type (a VarType), or the default's when none is
	// declared; "" takes any value.
	Type     VarType
	Enum     []any
	Required bool
	// Pattern is a regular expression a string value must match (whole).
	Pattern string
	// HasDefault is false for a long-form var without default.
	HasDefault bool
	// Path is the instance path of the default value, for errors; DefPath
	// the var's own.
	Path, DefPath []string
}

// VarType is a var's type.
type VarType string

// Var types. Durations are Go durations such as 90s; lists and maps are YAML
// sequences and mappings.
const (
	TypeString   VarType = "string"
	TypeInt      VarType = "int"
	TypeNumber   VarType = "number"
	TypeBool     VarType = "bool"
	TypeDuration VarType = "duration"
	TypeList     VarType = "list"
	TypeMap      VarType = "map"
)

// VarTypes lists the types a var may declare.
var VarTypes = []VarType{TypeString, TypeInt, TypeNumber, TypeBool, TypeDuration, TypeList, TypeMap}

// TypeOf is the var type a default value implies ("" for null).
func TypeOf(v any) VarType {
	switch v.(type) {
	case string:
		return TypeString
	case int64, int:
		return TypeInt
	case float64:
		return TypeNumber
	case bool:
		return TypeBool
	case []any:
		return TypeList
	case map[string]any:
		return TypeMap
	}
	return ""
}

// Defaults apply to every task that does not set its own.
type Defaults struct {
	Timeout string
	Retry   Retry
}

// Retry is a retry policy: how often to try and how long to wait between
// tries (exponential from Backoff up to MaxBackoff, spread by Jitter).
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	Jitter     float64
	// set records which fields the file gave, for merging with defaults.
	set map[string]bool
}

// WithSetFields returns r recording which fields the file set.
func WithSetFields(r Retry, fields map[string]any) Retry {
	r.set = map[string]bool{}
	for f := range fields {
		r.set[f] = true
	}
	return r
}

// IsSet reports whether the file set the named field ("attempts", ...).
func (r Retry) IsSet(field string) bool { return r.set[field] }

// Merge returns r with every field the file did not set taken from d.
func (r Retry) Merge(d Retry) Retry {
	out := r
	if !r.IsSet("attempts") {
		out.Attempts = d.Attempts
	}
	if !r.IsSet("backoff") {
		out.Backoff = d.Backoff
	}
	if !r.IsSet("maxBackoff") {
		out.MaxBackoff = d.MaxBackoff
	}
	if !r.IsSet("jitter") {
		out.Jitter = d.Jitter
	}
	out.set = nil
	return out
}

// DefaultRetry is used when neither the task nor the pipeline says otherwise:
// three tries, so that transient API errors do not fail a run.
var DefaultRetry = Retry{Attempts: 3, Backoff: time.Second, MaxBackoff: 15 * time.Second, Jitter: 0.2}

// DefaultTimeout bounds a task when neither it nor the pipeline sets one.
const DefaultTimeout = "5m"

// Task is one entry of tasks or finally.
type Task struct {
	Name        string
	Description string
	// Type is the task type's key (e.g. "exec"); "parallel" for groups.
	Type string
	// Params is the generic, unrendered value under the type key.
	Params any
	// Children are a parallel group's tasks.
	Children []*Task
	// Timeout is a duration or a template rendering to one; "" = default.
	Timeout string
	Retry   Retry
	// TimeoutSet and RetrySet say whether the task set them itself.
	TimeoutSet, RetrySet bool
	When                 string
	ContinueOnError      bool
	// Matrix runs the task once per combination of its dimensions' values.
	Matrix []MatrixDim
	// MatrixAllowEmpty lets an axis be empty: the matrix then runs no cell.
	MatrixAllowEmpty bool
	// MaxParallel bounds the cells that run at once (0: all).
	MaxParallel int
	// Until stops starting cells once it renders true for a cell that
	// ended (a template over .cell).
	Until string
	// MatrixScope are the matrix keys the task's templates may use as
	// .matrix.KEY: its own, or its matrix group's.
	MatrixScope []string
	// Diagnose is what to collect besides the default when the run fails
	// (nil: the default only).
	Diagnose *Diagnose

	// Path is the task's instance path, e.g. ["tasks","2"], for errors.
	Path []string

	// Uses is set on a task that runs a library's tasks (Type UsesType);
	// its Children are the library's tasks, expanded for this use.
	Uses *Uses
	// Origin is the library file a task comes from (nil: the pipeline
	// file): its positions, folder and task names are the library's. Local
	// is the task's name there; Name is unique in the run ("image.build").
	Origin *Pipeline
	Local  string
	// Use is the uses task this task was expanded for (nil in the
	// pipeline file's own tasks).
	Use *Task
	// Invalid: the loader found problems in the task (see load.Partial).
	// The compile walk gives it stand-ins without preparing it, so that
	// the tasks after it are still checked.
	Invalid bool
}

// Uses is what a `uses:` task names: a library file and the values of
// its params.
type Uses struct {
	// File is the path as written; Lib the library loaded from it.
	File string
	Lib  *Pipeline
	// With are the values given for params, unrendered (templates over
	// the using file's data).
	With map[string]any
}

// File is the file a task was written in: its library's, or "" for the
// pipeline file.
func (t *Task) File() string {
	if t.Origin != nil {
		return t.Origin.File
	}
	return ""
}

// MatrixDim is one dimension of a matrix: a list of values, or a template
// that renders to one.
type MatrixDim struct {
	Name string
	// Values is a []any, or a string template.
	Values any
}

// MatrixKeys lists the matrix dimensions a task (or its group) declares.
func (t *Task) MatrixKeys() []string {
	out := make([]string, len(t.Matrix))
	for i, d := range t.Matrix {
		out[i] = d.Name
	}
	return out
}

// CellsOutput is the output of a matrix task: one entry per cell.
const CellsOutput = "cells"

// ParallelType is the type key of a group whose children run concurrently.
const ParallelType = "parallel"

// UsesType is the type of a task that runs the tasks of a library file
// (`uses: FILE`), in order, as a group.
const UsesType = "uses"

// IsGroup reports whether t runs other tasks (a parallel group or a use of
// a library) rather than an action of its own.
func (t *Task) IsGroup() bool { return t.Type == ParallelType || t.Type == UsesType }

// Flatten lists tasks and their parallel children, depth first, in file order.
func Flatten(ts []*Task) []*Task {
	var out []*Task
	for _, t := range ts {
		out = append(out, t)
		out = append(out, Flatten(t.Children)...)
	}
	return out
}

// AllTasks lists every task of the pipeline: tasks, then finally, children
// included.
func (p *Pipeline) AllTasks() []*Task {
	return append(Flatten(p.Tasks), Flatten(p.Finally)...)
}

// Find returns the task with the given name anywhere in the pipeline.
func (p *Pipeline) Find(name string) *Task {
	for _, t := range p.AllTasks() {
		if t.Name == name {
			return t
		}
	}
	return nil
}
