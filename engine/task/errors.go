package task

import (
	"context"
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

type retryNoticeKey struct{}

// RetryNotice is told when a lower layer repeats a request inside a task
// (e.g. an API call after a 503), so that such retries show in the run's
// events like the task-level ones.
type RetryNotice func(attempt int, err error)

// WithRetryNotice returns ctx carrying fn.
func WithRetryNotice(ctx context.Context, fn RetryNotice) context.Context {
	return context.WithValue(ctx, retryNoticeKey{}, fn)
}

// NoticeRetry reports a repeated request to the notice in ctx, if any.
func NoticeRetry(ctx context.Context, attempt int, err error) {
	if fn, ok := ctx.Value(retryNoticeKey{}).(RetryNotice); ok && fn != nil {
		fn(attempt, err)
	}
}
