// Package exit holds kbrun's typed errors and their stable exit codes.
package exit

import (
	"errors"
	"fmt"
)

// Exit codes. They are part of kbrun's interface: scripts and CI rely on them.
const (
	OK          = 0   // every task succeeded (or was skipped on purpose)
	TaskFailed  = 1   // a task failed, timed out, or finally failed
	Invalid     = 2   // invalid pipeline file, values or command-line usage
	Interrupted = 130 // SIGINT/SIGTERM (128+2, the shell convention)
)

// UsageError is bad command-line input: unknown flags, bad --set, a task
// named in --only that does not exist.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// InvalidError wraps problems with the pipeline file or its values.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// TaskError is a failed run: which task failed and why.
type TaskError struct {
	Task string
	Err  error
}

func (e *TaskError) Error() string { return fmt.Sprintf("task %q failed: %v", e.Task, e.Err) }
func (e *TaskError) Unwrap() error { return e.Err }

// InterruptedError is a run stopped by a signal.
type InterruptedError struct{ Signal string }

func (e *InterruptedError) Error() string { return "interrupted by " + e.Signal }

// Code maps an error to kbrun's exit code.
func Code(err error) int {
	var (
		usage *UsageError
		inv   *InvalidError
		intr  *InterruptedError
	)
	switch {
	case err == nil:
		return OK
	case errors.As(err, &intr):
		return Interrupted
	case errors.As(err, &usage), errors.As(err, &inv):
		return Invalid
	default:
		return TaskFailed
	}
}
