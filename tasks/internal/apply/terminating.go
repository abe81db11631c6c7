package apply

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

// waitDeleted waits, by watch, until live, which is being deleted (a
// namespace still terminating after a previous run's cleanup or `kubectl
// delete`), is gone, so that it can be created anew, saying what holds it
// while that lasts. The task's timeout bounds the wait.
func waitDeleted(ctx context.Context, ri dynamic.ResourceInterface, live *unstructured.Unstructured, what string, out func(string, ...any)) error {
	c := clock.RealClock{}
	since := c.Since(live.GetDeletionTimestamp().Time).Round(100 * time.Millisecond)
	bound := "the task's timeout"
	if dl, ok := ctx.Deadline(); ok {
		bound = time.Until(dl).Round(time.Second).String()
	}
	say := logf(out)
	say("%s is being deleted (for %s now): waiting until it is gone to create it again (up to %s)", what, since, bound)
	var latest atomic.Pointer[unstructured.Unstructured]
	latest.Store(live)
	start := c.Now()
	err := waitnote.Wait(func() error { return waitnote.WatchGone(ctx, ri, live.GetName(), live.GetUID(), latest.Store) },
		c, what+" to be deleted", waitnote.HoldingNow(latest.Load), say)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s was still being deleted when the task's time ran out (%s): %w", what, waitnote.Holding(latest.Load(), c.Now()), context.Cause(ctx))
		}
		return apicall.Classify(err, "watch", what)
	}
	say("%s is gone (waited %s)", what, c.Since(start).Round(100*time.Millisecond))
	return nil
}

// logf is f, or a logger that drops lines when f is nil.
func logf(f func(string, ...any)) func(string, ...any) {
	if f == nil {
		return func(string, ...any) {}
	}
	return f
}
