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
	Interrupted = 130 // SIGINT (128+2, the shell convention); other signals 128+n
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

// InterruptedError is a run stopped by a signal (or a broken output
// stream, reported as SIGPIPE).
type InterruptedError struct {
	Signal string
	// Number is the signal's number; the exit code is 128+Number, as a
	// shell reports a process the signal killed. 0 means SIGINT.
	Number int
	// Stream: no signal came, the output stream broke (EPIPE). That stops
	// what still runs, but a run whose tasks had all ended keeps its result.
	Stream bool
}

func (e *InterruptedError) Error() string { return "interrupted by " + e.Signal }

// Code is the exit code for the signal: 128+n.
func (e *InterruptedError) Code() int {
	if e.Number <= 0 {
		return Interrupted
	}
	return 128 + e.Number
}

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
		return intr.Code()
	case errors.As(err, &usage), errors.As(err, &inv):
		return Invalid
	default:
		return TaskFailed
	}
}
