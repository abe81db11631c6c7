package trace_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/kbrun/kbrun/engine/task"
)

// flaky is a task type whose failures the pipeline sets: the first
// failTimes attempts fail with a retryable error, fatal fails every one.
// Its outputs hold objects, as apply's do.
type flaky struct {
	mu    sync.Mutex
	calls map[string]int
}

type flakyParams struct {
	ID        string `json:"id"`
	FailTimes int    `json:"failTimes"`
	Fatal     string `json:"fatal"` // "true": templates compute it
	Notice    bool   `json:"notice"`
}

func (*flaky) Name() string            { return "flaky" }
func (*flaky) Summary() string         { return "test double" }
func (*flaky) Schema() json.RawMessage { return json.RawMessage(`{"type":"object"}`) }
func (*flaky) Outputs() []string       { return []string{"objects", "attempt", "id"} }

func (f *flaky) Prepare(p task.Params) (task.Action, error) {
	var fp flakyParams
	if err := p.Decode(&fp); err != nil {
		return nil, err
	}
	return &flakyAction{f: f, p: fp}, nil
}

type flakyAction struct {
	f *flaky
	p flakyParams
}

func (a *flakyAction) Describe() string { return "flaky " + a.p.ID }

func (a *flakyAction) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	a.f.mu.Lock()
	a.f.calls[a.p.ID]++
	n := a.f.calls[a.p.ID]
	a.f.mu.Unlock()
	if a.p.Notice {
		task.NoticeRetry(ctx, 1, errors.New("503 service unavailable"))
	}
	if a.p.Fatal == "true" {
		return nil, errors.New("fatal failure of " + a.p.ID)
	}
	if n <= a.p.FailTimes {
		return nil, task.Retryablef("transient failure %d of %s", n, a.p.ID)
	}
	objects := []any{map[string]any{"kind": "ConfigMap", "namespace": "ns1", "name": a.p.ID, "uid": "u", "created": true}}
	return task.Outputs{"objects": objects, "attempt": n, "id": a.p.ID}, nil
}
