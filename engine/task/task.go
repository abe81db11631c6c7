// Package task is the seam between the engine and the task types.
//
// A task type (apply, exec, run, compile, ...) is one package under tasks/ that
// implements Type. The engine owns everything around it: loading, schema
// validation, templating, retries, timeouts, output and reporting. A type only
// decodes its rendered parameters into an Action, says in one line what the
// action will do, and does it.
package task

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"sync"

	"github.com/kbrun/kbrun/engine/kube"
)

// Type is one kind of task. Implementations must be safe for concurrent
// use, and Prepare only builds the action, touching nothing: it is called
// several times for one task, with stand-ins for what is known only at run
// time when the pipeline is checked (validate, plan, and run before its
// first task), then with the real values right before the task runs (once
// per matrix cell), concurrently in parallel groups and matrices.
type Type interface {
	// Name is the key that selects this type in a pipeline task, e.g. "exec".
	Name() string
	// Summary is the one-sentence description that `kbrun tasks`, the
	// table of task types in docs/tasks.md and the schema show.
	Summary() string
	// Schema is the JSON Schema (draft 2020-12) stanza of the parameters,
	// merged into the pipeline schema under the task's type key.
	Schema() json.RawMessage
	// Outputs lists the outputs a successful run publishes as
	// .tasks.<name>.<output>. Templates are checked against it before
	// anything runs, and dry runs show them as placeholders.
	Outputs() []string
	// Prepare turns rendered parameters into an Action. It reports bad
	// parameters (that the schema cannot express) as errors; they are fatal.
	Prepare(p Params) (Action, error)
}

// Checker is implemented by types that can check unrendered parameters at load
// time, e.g. that an asset file without template syntax exists. Problems are
// reported with the pipeline's other validation errors, before anything runs.
type Checker interface {
	Check(p Params) []FieldError
}

// ClusterType is implemented by task types that talk to a cluster. Before a
// pipeline with such a task runs, kbrun makes sure a cluster is configured
// (kubeconfig, context, --server), so that a missing or broken configuration
// stops the run before its first task (exit 2), not half-way through it.
type ClusterType interface {
	UsesCluster() bool
}

// Action is a task with its parameters rendered, ready to run.
type Action interface {
	// Describe says in one human line what the action does, e.g.
	// "copy 2 paths into ones/builder-7d9f:/workspace". Used by plans and logs.
	Describe() string
	// Run does the work. ctx carries the task's timeout and the run's
	// cancellation; Run must return promptly when it is done. Errors that
	// are worth retrying are wrapped with Retryable.
	Run(ctx context.Context, env *Env) (Outputs, error)
}

// Outputs are a task's results, addressable in later templates.
type Outputs map[string]any

// DryRun says how much of a run really happens.
type DryRun int

const (
	// DryRunNone runs everything.
	DryRunNone DryRun = iota
	// DryRunClient prints the plan; nothing touches a cluster or runs a command.
	DryRunClient
	// DryRunServer prints the plan, and sends what apply, deploy and delete
	// would change to the API server with dryRun=All.
	DryRunServer
)

// String returns the flag spelling of the mode.
func (d DryRun) String() string {
	switch d {
	case DryRunClient:
		return "client"
	case DryRunServer:
		return "server"
	default:
		return "none"
	}
}

// Env is what a running action may use besides its parameters. One Env is
// made per task run; the shared parts (Kube, Applied) are shared by the run.
type Env struct {
	// Task is the name of the running task.
	Task string
	// Pipeline describes the running pipeline.
	Pipeline PipelineInfo
	// Namespace is the effective default namespace: -n, else the
	// pipeline's namespace, else the kubeconfig context's, else "default".
	// Tasks use it when their own parameters name none.
	Namespace string
	// Stdout and Stderr receive the task's live output. The engine prefixes
	// each line with the task name and masks secrets.
	Stdout, Stderr io.Writer
	// Logf reports a progress line of the task (not command output).
	Logf func(format string, args ...any)
	// Kube gives the run's one set of cluster clients, made on first use.
	Kube kube.Provider
	// Applied records the objects this run applied, for delete and cleanup.
	Applied *kube.AppliedSet
	// ServerDryRun is the state of a server-side dry run (nil in a run:
	// actions run only when the run's mode is DryRunNone, and
	// ServerDryRunner actions are asked only with DryRunServer).
	ServerDryRun *ServerDryRun
	// WorkDir returns a scratch folder of this run (made on first use,
	// removed when the run ends), e.g. for compiled binaries.
	WorkDir func() (string, error)
}

// PipelineInfo is the .pipeline template data.
type PipelineInfo struct {
	Name  string `json:"name"`
	Dir   string `json:"dir"`
	File  string `json:"file"`
	RunID string `json:"runId"`
}

// EndOutputs are the outputs every task has once it has ended, whatever its
// type and however it ended: .tasks.NAME.status is "ok", "failed" or
// "skipped", and .tasks.NAME.error the failure ("" otherwise), so that later
// tasks can branch on how it went.
var EndOutputs = []string{"status", "error"}

// ManifestUser is implemented by actions built from manifest files, so that
// plans can show the files as rendered (or say they render at run time).
type ManifestUser interface {
	ManifestFiles() []ManifestFile
}

// ServerDryRunner is implemented by actions that change the cluster: with
// --dry-run=server they send their requests with dryRun=All instead and
// report what the API server says each object would undergo. Admission,
// Pod Security, RBAC and schema refusals come back as the error.
type ServerDryRunner interface {
	DryRunServer(ctx context.Context, env *Env) ([]Change, error)
}

// Change is the API server's verdict on one object in a server-side dry run.
type Change struct {
	// Object names it: "deployment ones/builder".
	Object string
	// Action is created, configured, unchanged, deleted, not found, or
	// not checked.
	Action string
	// Fields are the changed fields (configured).
	Fields []string
	// Note says why an object was not checked.
	Note string
}

// ServerDryRun is the state a server-side dry run carries across tasks:
// the namespaces it reported as created, whose objects the API server
// cannot check before the namespace exists.
type ServerDryRun struct {
	mu      sync.Mutex
	created map[string]bool
}

// Created records that namespace ns would be created by the run.
func (s *ServerDryRun) Created(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created == nil {
		s.created = map[string]bool{}
	}
	s.created[ns] = true
}

// WillCreate reports whether namespace ns would be created by the run.
func (s *ServerDryRun) WillCreate(ns string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created[ns]
}

// ParamOutputs is implemented by types some of whose outputs are named by
// their parameters (a named group in an expected pattern, say): the loader
// checks templates against them and plans show stand-ins for them. params
// are unrendered when the file is checked.
type ParamOutputs interface {
	ParamOutputs(params any) []string
}

// OutputsOf lists what a task of type typ with the given parameters
// publishes: the type's outputs and those its parameters name.
func OutputsOf(typ Type, params any) []string {
	outs := slices.Clone(typ.Outputs())
	if po, ok := typ.(ParamOutputs); ok {
		for _, o := range po.ParamOutputs(params) {
			if !slices.Contains(outs, o) {
				outs = append(outs, o)
			}
		}
	}
	return outs
}
