package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// attempt runs the action under the retry policy.
func (r *runner) attempt(ctx context.Context, t *pipeline.Task, a task.Action, env *task.Env) (task.Outputs, int, error) {
	pol := t.Retry
	if pol.Attempts < 1 {
		pol.Attempts = 1
	}
	var lastErr error
	for n := 1; ; n++ {
		out, err := a.Run(ctx, env)
		if err == nil && ctx.Err() == nil {
			return out, n, nil
		}
		if ctx.Err() != nil {
			return out, n, r.withOutage(ctx, stopped(ctx, err, n))
		}
		lastErr = err
		if !task.IsRetryable(err) {
			return out, n, err
		}
		if n >= pol.Attempts {
			if pol.Attempts > 1 {
				return out, n, fmt.Errorf("gave up after %d attempts: %w", n, lastErr)
			}
			return out, n, lastErr
		}
		wait := Backoff(pol, n, r.opts.Rand)
		r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskRetry, Task: t.Name, TaskType: t.Type, Attempt: n, MaxAttempts: pol.Attempts, WaitMS: wait.Milliseconds(), Error: err.Error()})
		if err := r.opts.Sleep(ctx, wait); err != nil {
			return out, n, r.withOutage(ctx, stopped(ctx, lastErr, n))
		}
	}
}

// stopped explains why a task's context ended: its own timeout, the run's
// timeout, or an interrupt, with the last error seen.
func stopped(ctx context.Context, last error, attempt int) error {
	cause := context.Cause(ctx)
	var te *timeoutError
	if errors.As(cause, &te) {
		switch {
		case last == nil || bare(last, cause):
			return fmt.Errorf("%w (attempt %d)", te, attempt)
		case errors.Is(last, context.DeadlineExceeded) || errors.As(last, &te):
			// The task said what it was waiting for when its time ran out
			// (a wait's state, an assert's diff): that is the cause to show.
			return fmt.Errorf("%w (attempt %d): %v", te, attempt, last)
		default:
			return fmt.Errorf("%w (attempt %d); last error: %v", te, attempt, last)
		}
	}
	if cause == nil {
		cause = ctx.Err()
	}
	return cause
}

// bare tells whether err says no more than that the context ended.
func bare(err, cause error) bool {
	switch err.Error() {
	case cause.Error(), context.DeadlineExceeded.Error(), context.Canceled.Error():
		return true
	}
	return false
}

// withOutage adds to the error of a task that timed out while the API
// server was not answering, or after it had not answered for part of the
// task's time, that it was not: the likely cause, which the task's last
// error (often none: its requests were still waiting) does not give.
func (r *runner) withOutage(ctx context.Context, err error) error {
	var te *timeoutError
	if r.opts.Outages == nil || !errors.As(context.Cause(ctx), &te) {
		return err
	}
	now := time.Now()
	start := now.Add(-te.d) // the task's start, about
	outages := r.opts.Outages(start)
	if len(outages) == 0 {
		return err
	}
	if last := outages[len(outages)-1]; last.Back.IsZero() {
		return fmt.Errorf("%w: the API server has not answered since %s (%s)", err, last.Since.Format("15:04:05"), now.Sub(last.Since).Round(100*time.Millisecond))
	}
	var lost time.Duration
	for _, o := range outages {
		from := o.Since
		if from.Before(start) {
			from = start
		}
		lost += o.Back.Sub(from)
	}
	return fmt.Errorf("%w: the API server did not answer for %s of the task's %s (%s to %s)", err, report.Round(lost), te.d,
		outages[0].Since.Format("15:04:05"), outages[len(outages)-1].Back.Format("15:04:05"))
}

// Backoff is exponential from Backoff, capped at MaxBackoff, spread by Jitter.
func Backoff(p pipeline.Retry, attempt int, rnd func() float64) time.Duration {
	d := float64(p.Backoff) * math.Pow(2, float64(attempt-1))
	if p.MaxBackoff > 0 && d > float64(p.MaxBackoff) {
		d = float64(p.MaxBackoff)
	}
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*rnd()-1)
	}
	return time.Duration(d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type timeoutError struct {
	task string
	d    time.Duration
}

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.d) }
