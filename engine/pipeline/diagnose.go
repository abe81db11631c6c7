package pipeline

import "time"

// Diagnose is what a task asks kbrun to collect, besides what it collects
// anyway, when the run fails (docs/diagnostics.md). Its values are taken
// as written: they are not templates.
type Diagnose struct {
	Resources []DiagnoseResource
	Commands  []DiagnoseCommand
}

// DiagnoseResource is an object, or the objects a label selector matches,
// to dump into the diagnostics folder.
type DiagnoseResource struct {
	APIVersion, Kind string
	// Name or Selector (a label selector), one of them.
	Name, Selector string
	// Namespace: "" is the task's namespace (else the run's).
	Namespace string
}

// DiagnoseCommand is a command run in a pod (the first a selector matches,
// or the named one) whose output goes into the diagnostics folder.
type DiagnoseCommand struct {
	Pod, Selector string
	Namespace     string
	Container     string
	Command       []string
	// Timeout bounds the command (within the diagnosis's own budget).
	Timeout time.Duration
}

// DefaultDiagnoseCommandTimeout bounds a diagnose command that sets none.
const DefaultDiagnoseCommandTimeout = 10 * time.Second
