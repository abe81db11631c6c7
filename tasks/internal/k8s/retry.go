package k8s

import (
	"context"
	"time"

	"github.com/kbrun/kbrun/engine/task"
)

// requestAttempts bounds Idempotent: a request that fails this often in a
// row goes back to the task, whose own retry policy takes over.
const requestAttempts = 4

// Idempotent runs one idempotent API request (a get, a list, a server-side
// apply) and repeats it on transient errors (throttling, 5xx, dropped or
// reset connections) with a short backoff: 100, 200, 400 ms. A task makes
// several requests, so retrying only the whole task compounds the odds of a
// fault: with one in five requests failing, a builder's five calls would
// fail one try in three. Requests that are not idempotent (a create) never
// go through here; an exec without stdin does, retried only when its stream
// was never set up, so the command cannot have started.
func Idempotent(ctx context.Context, do func() error) error {
	wait := 100 * time.Millisecond
	var err error
	for i := 0; i < requestAttempts; i++ {
		if err = do(); err == nil || !IsTransient(err) {
			return err
		}
		if i == requestAttempts-1 {
			break
		}
		task.NoticeRetry(ctx, i+1, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
	return err
}
