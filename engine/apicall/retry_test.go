package apicall

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kbrun/kbrun/engine/task"
)

func TestIdempotent(t *testing.T) {
	transient := apierrors.NewServiceUnavailable("busy")
	fatal := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New("no"))
	tests := []struct {
		name      string
		failures  int
		err       error
		wantCalls int
		wantErr   bool
	}{
		{"ok at once", 0, nil, 1, false},
		{"transient then ok", 2, transient, 3, false},
		{"transient every time", 99, transient, requestAttempts, true},
		{"fatal is not repeated", 99, fatal, 1, true},
		{"500: a few tries", 99, apierrors.NewInternalError(errors.New("boom")), requestAttempts, true},
	}
	for _, tc := range tests {
		calls, notices := 0, 0
		ctx := task.WithRetryNotice(context.Background(), func(int, error) { notices++ })
		err := Idempotent(ctx, func() error {
			calls++
			if calls <= tc.failures {
				return tc.err
			}
			return nil
		})
		if calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
		// Every repeat is reported, so that run events show it.
		if want := min(tc.wantCalls-1, requestAttempts-1); tc.err != nil && !apierrors.IsForbidden(tc.err) && notices != want {
			t.Errorf("%s: %d retry notices, want %d", tc.name, notices, want)
		}
	}
}

// With a deadline, an API server that does not answer is waited for until
// then, not for requestAttempts tries.
func TestIdempotentWaitsUntilTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := 0
	err := Idempotent(ctx, func() error {
		calls++
		// Down for one call more than a count-based retry would make.
		if calls <= requestAttempts+1 {
			return apierrors.NewServiceUnavailable("apiserver is starting")
		}
		return nil
	})
	if err != nil || calls <= requestAttempts {
		t.Fatalf("%d calls, err %v; want success after more than %d calls", calls, err, requestAttempts)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	err = Idempotent(ctx2, func() error { return apierrors.NewServiceUnavailable("down") })
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("err %v, want the 503 once the deadline is near", err)
	}
}
