package apicall

import (
	"context"
	"time"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// requestAttempts bounds Idempotent for errors that do not pass with time
// (a 500, a conflict): a request that fails this often in a row goes back to
// the task, whose own retry policy takes over.
const requestAttempts = 4

// Idempotent runs one idempotent API request (a get, a list, a server-side
// apply) and repeats it on transient errors (throttling, 5xx, dropped or
// reset connections) with a short backoff. A task makes several requests,
// so retrying only the whole task compounds the odds of a fault: with one
// in five requests failing, a builder's five calls would fail one try in
// three. An API server that is not answering (kube.Passing: refused or
// dropped connections, 503, etcd changing leader) is waited for until ctx's
// deadline, however many tries that takes, as the transport does for each
// request; with no deadline, and for other transient errors, it is tried
// requestAttempts times. Requests that are not idempotent (a create) never
// go through here; an exec without stdin does, retried only when its stream
// was never set up, so the command cannot have started.
func Idempotent(ctx context.Context, do func() error) error {
	_, deadline := ctx.Deadline()
	var err error
	for n := 1; ; n++ {
		if err = do(); err == nil || !IsTransient(err) {
			return err
		}
		wait := kube.Wait(n)
		if patient := deadline && kube.Passing(err); !patient && n >= requestAttempts ||
			patient && time.Now().Add(wait).After(kube.Until(ctx, time.Now())) {
			return err
		}
		task.NoticeRetry(ctx, n, err)
		if kube.Sleep(ctx, wait) != nil {
			return err
		}
	}
}
