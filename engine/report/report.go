// Package report turns the runner's events into what people and CI read:
// live text, one JSON object per line, and JUnit XML.
package report

import (
	"sync"
	"time"
)

// Event types.
const (
	RunStart   = "run.start"
	TaskPlan   = "task.plan"
	TaskStart  = "task.start"
	TaskOutput = "task.output"
	TaskLog    = "task.log"
	TaskRetry  = "task.retry"
	// RequestRetry is a request repeated inside a task (a get after a 503);
	// the task itself goes on.
	RequestRetry = "request.retry"
	TaskEnd      = "task.end"
	RunEnd       = "run.end"
	Cleanup      = "run.cleanup"
	// Diagnostics says where a failed run's diagnostics folder is
	// (Diagnostics) and what is in it (Reason: a few lines).
	Diagnostics = "run.diagnostics"
)

// APIDown and APIBack say that the API server stopped answering (Time:
// since when; Error: what the first request got) and that it answers again
// (DurationMS: how long it did not); requests wait for it meanwhile.
const (
	APIDown = "api.down"
	APIBack = "api.back"
)

// Task statuses in TaskEnd events.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusPlanned = "planned"
)

// Event is one thing that happened in a run. Fields not relevant to a type
// are left empty and omitted from JSON.
type Event struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Pipeline string    `json:"pipeline,omitempty"`
	RunID    string    `json:"runId,omitempty"`
	Task     string    `json:"task,omitempty"`
	TaskType string    `json:"taskType,omitempty"`
	// Index is the task's place in the plan, e.g. "3", "2.1", "F1".
	Index    string `json:"index,omitempty"`
	Finally  bool   `json:"finally,omitempty"`
	Describe string `json:"describe,omitempty"`
	// Params are the rendered parameters (plans).
	Params any `json:"params,omitempty"`
	// Namespace is the namespace a cluster task uses (plans, task.start).
	Namespace string `json:"namespace,omitempty"`
	// Origin is FILE:LINE of a task that comes from a library (plans).
	Origin string `json:"origin,omitempty"`
	// ContinueOnError: a failure of the task does not stop the run (plans).
	ContinueOnError bool `json:"continueOnError,omitempty"`
	// Manifests are the task's manifest files as rendered (plans with
	// --show-manifests), each starting with a "# FILE" line.
	Manifests []string `json:"manifests,omitempty"`
	// Changes are what a server-side dry run says each object would
	// undergo (--dry-run=server).
	Changes []Change `json:"changes,omitempty"`
	// Cells is the number of cells a matrix task runs (task.start).
	Cells       int    `json:"cells,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	MaxAttempts int    `json:"maxAttempts,omitempty"`
	Stream      string `json:"stream,omitempty"`
	Line        string `json:"line,omitempty"`
	Status      string `json:"status,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Error       string `json:"error,omitempty"`
	// Wait is the backoff before the next attempt (task.retry).
	WaitMS int64 `json:"waitMs,omitempty"`
	// DurationMS is the task's or run's wall time (task.end, run.end).
	DurationMS int64 `json:"durationMs,omitempty"`
	// ExitCode of the run (run.end).
	ExitCode *int `json:"exitCode,omitempty"`
	// CPUMS and MaxRSSKB are kbrun's own CPU time (user+system, children
	// excluded) and peak resident memory over the run (run.end), so that its
	// overhead can be told from time spent waiting on the cluster.
	CPUMS    int64 `json:"cpuMs,omitempty"`
	MaxRSSKB int64 `json:"maxRssKb,omitempty"`
	// Outputs of the task (task.end), masked.
	Outputs map[string]any `json:"outputs,omitempty"`
	DryRun  bool           `json:"dryRun,omitempty"`
	// Diagnostics is the diagnostics folder of a failed run (run.diagnostics).
	Diagnostics string `json:"diagnostics,omitempty"`
}

// Change is the API server's verdict on one object in a server-side dry
// run: created, configured (with the fields that change), unchanged,
// deleted, or not checked (with the reason).
type Change struct {
	Object string   `json:"object"`
	Action string   `json:"action"`
	Fields []string `json:"fields,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// Reporter receives events. Implementations must be safe for concurrent use:
// tasks in a parallel group report at once.
type Reporter interface {
	Report(e Event)
}

// Multi sends every event to each reporter in turn.
type Multi []Reporter

// Report implements Reporter.
func (m Multi) Report(e Event) {
	for _, r := range m {
		r.Report(e)
	}
}

// Func adapts a function to Reporter.
type Func func(Event)

// Report implements Reporter.
func (f Func) Report(e Event) { f(e) }

// Recorder keeps every event, for tests and reports written at the end.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Report implements Reporter.
func (r *Recorder) Report(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
