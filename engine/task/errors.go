package task

import (
	"errors"
	"fmt"
)

// retryableError marks an error as transient: the engine retries the task
// under its retry policy. Everything else is fatal at the first failure.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as worth retrying (nil stays nil).
func Retryable(err error) error {
	if err == nil || IsRetryable(err) {
		return err
	}
	return &retryableError{err: err}
}

// Retryablef is fmt.Errorf marked retryable.
func Retryablef(format string, args ...any) error {
	return Retryable(fmt.Errorf(format, args...))
}

// IsRetryable reports whether err, or an error it wraps, is marked retryable.
func IsRetryable(err error) bool {
	var r *retryableError
	return errors.As(err, &r)
}
