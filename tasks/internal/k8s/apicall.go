package k8s

import (
	"context"

	"github.com/kbrun/kbrun/engine/apicall"
)

// The cluster task types call these by their old names until this package
// is split by job (issue 29).

// Classify is apicall.Classify.
func Classify(err error, verb, what string) error { return apicall.Classify(err, verb, what) }

// IsTransient is apicall.IsTransient.
func IsTransient(err error) bool { return apicall.IsTransient(err) }

// Idempotent is apicall.Idempotent.
func Idempotent(ctx context.Context, do func() error) error { return apicall.Idempotent(ctx, do) }
