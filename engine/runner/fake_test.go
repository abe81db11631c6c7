package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/task"
)

// fake is a task type whose behaviour the pipeline sets, so that runner
// tests can produce retries, failures and slow tasks on demand.
type fake struct {
	mu    sync.Mutex
	calls map[string]int // attempts per task (by params.id)
	// running, peak and reached serve hold: how many actions run at once.
	running, peak int
	reached       bool
	cond          *sync.Cond
}

type fakeParams struct {
	ID string `json:"id"`
	// FailTimes: the first N attempts fail with a retryable error.
	FailTimes int `json:"failTimes"`
	// Fatal: every attempt fails with a fatal error; so does FatalIf
	// "true" (a template can compute it).
	Fatal   bool   `json:"fatal"`
	FatalIf string `json:"fatalIf"`
	// Sleep: each attempt waits this long (or until cancelled).
	Sleep string `json:"sleep"`
	// WaitingFor: when its context ends during Sleep, the action says so
	// (wrapping the context's error), as wait and assert tasks do.
	WaitingFor string `json:"waitingFor"`
	// Out is published as the output "value".
	Out string `json:"out"`
	// Print is written to stdout.
	Print string `json:"print"`
	// Notice reports a repeated request inside the task.
	Notice bool `json:"notice"`
	// Hold: the action waits until Hold actions run at once (once reached,
	// everyone goes on), so that the peak concurrency shows.
	Hold int `json:"hold"`
}

func newFake() *fake {
	f := &fake{calls: map[string]int{}}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (*fake) Name() string            { return "fake" }
func (*fake) Summary() string         { return "test double" }
func (*fake) Schema() json.RawMessage { return json.RawMessage(`{"type":"object"}`) }
func (*fake) Outputs() []string       { return []string{"value", "attempt"} }

func (f *fake) Prepare(p task.Params) (task.Action, error) {
	var fp fakeParams
	if err := p.Decode(&fp); err != nil {
		return nil, err
	}
	return &fakeAction{f: f, p: fp}, nil
}

func (f *fake) attempts(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

type fakeAction struct {
	f *fake
	p fakeParams
}

func (a *fakeAction) Describe() string { return "fake " + a.p.ID + " out=" + a.p.Out }

func (a *fakeAction) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	a.f.mu.Lock()
	a.f.calls[a.p.ID]++
	n := a.f.calls[a.p.ID]
	a.f.mu.Unlock()
	if a.p.Print != "" {
		fmt.Fprintln(env.Stdout, a.p.Print)
	}
	if a.p.Hold > 0 {
		a.f.mu.Lock()
		a.f.running++
		a.f.peak = max(a.f.peak, a.f.running)
		if a.f.running >= a.p.Hold {
			a.f.reached = true
			a.f.cond.Broadcast()
		}
		for !a.f.reached {
			a.f.cond.Wait()
		}
		a.f.running--
		a.f.mu.Unlock()
	}
	if a.p.Notice {
		task.NoticeRetry(ctx, 1, errors.New("503 service unavailable"))
	}
	if a.p.Sleep != "" {
		d, _ := time.ParseDuration(a.p.Sleep)
		select {
		case <-ctx.Done():
			if a.p.WaitingFor != "" {
				return nil, fmt.Errorf("timed out (%w) waiting until %s", ctx.Err(), a.p.WaitingFor)
			}
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
	if a.p.Fatal || a.p.FatalIf == "true" {
		return nil, errors.New("fatal failure of " + a.p.ID)
	}
	if n <= a.p.FailTimes {
		return nil, task.Retryablef("transient failure %d of %s", n, a.p.ID)
	}
	return task.Outputs{"value": a.p.Out, "attempt": n}, nil
}
