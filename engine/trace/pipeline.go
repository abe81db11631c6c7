package trace

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
)

// Pipeline turns the events of one pipeline's run into spans under the
// run's root span: one Pipeline per runner.Run, so that several pipelines
// of one kbrun process are siblings (pipelines run one after another may
// share one; pipelines run at once may not: their indexes would mix). A nil *Pipeline (tracing off)
// reports nothing: the cost of an event is the nil check.
type Pipeline struct {
	run  *Run
	mu   sync.Mutex
	span trace.Span
	ctx  context.Context
	// tasks by plan index ("3", "3.1", "F1"): a task's span is the parent
	// of those under it, found by the index less its last part. Ended
	// spans stay, for the children skipped after their parent ended.
	tasks map[string]*task
	// running actions by name: task.retry and request.retry events carry
	// no index.
	running map[string]*task
}

type task struct {
	span  trace.Span
	ctx   context.Context
	cells bool // a matrix: the tasks under it are its cells
	// action: the task runs a task type's action, in attempts;
	// attemptAt is when the current attempt began.
	action    bool
	attemptAt time.Time
}

// Pipeline returns the reporter of one pipeline's events, to go with the
// others in runner.Options.Reporter (the runner masks what it sends).
func (r *Run) Pipeline() *Pipeline {
	if r == nil {
		return nil
	}
	return &Pipeline{run: r, ctx: r.ctx, tasks: map[string]*task{}, running: map[string]*task{}}
}

// Report implements report.Reporter.
func (p *Pipeline) Report(e report.Event) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case report.RunStart:
		// A reporter used again for the next pipeline starts afresh.
		clear(p.tasks)
		clear(p.running)
		p.ctx, p.span = p.run.tracer.Start(p.run.ctx, "pipeline "+e.Pipeline, trace.WithTimestamp(e.Time), trace.WithAttributes(
			attribute.String("kbrun.pipeline", e.Pipeline),
			attribute.String("kbrun.run_id", e.RunID),
			attribute.Bool("kbrun.dry_run", e.DryRun)))
	case report.TaskStart:
		p.start(e)
	case report.TaskRetry:
		if t := p.running[e.Task]; t != nil {
			p.attempt(t, e.Attempt, e.Time, report.StatusFailed, e.Error, attribute.Int64("kbrun.retry.wait_ms", e.WaitMS))
			t.attemptAt = e.Time.Add(time.Duration(e.WaitMS) * time.Millisecond)
		}
	case report.RequestRetry:
		if t := p.running[e.Task]; t != nil {
			t.span.AddEvent("request.retry", trace.WithTimestamp(e.Time), trace.WithAttributes(
				attribute.Int("kbrun.request.try", e.Attempt), attribute.String("kbrun.error", e.Error)))
		}
	case report.TaskEnd:
		p.end(e)
	case report.Cleanup:
		if p.span != nil {
			p.span.AddEvent("cleanup", trace.WithTimestamp(e.Time), trace.WithAttributes(attribute.String("kbrun.reason", e.Reason)))
		}
	case report.RunEnd:
		p.runEnd(e)
	}
	// The rest (plans, output and log lines, API outages) is for people
	// reading the run, not for its timeline.
}

// parent is the span a task's span goes under: its group's, use's or
// matrix's, else the pipeline's.
func (p *Pipeline) parent(index string) (context.Context, *task) {
	if i := strings.LastIndexByte(index, '.'); i >= 0 {
		if t := p.tasks[index[:i]]; t != nil {
			return t.ctx, t
		}
	}
	return p.ctx, nil
}

func (p *Pipeline) start(e report.Event) {
	ctx, up := p.parent(e.Index)
	name := "task " + e.Task
	if up != nil && up.cells {
		name = "cell " + e.Task
	}
	attrs := taskAttrs(e)
	if e.Namespace != "" {
		attrs = append(attrs, attribute.String("k8s.namespace.name", e.Namespace))
	}
	if e.Describe != "" {
		attrs = append(attrs, attribute.String("kbrun.task.describe", e.Describe))
	}
	if e.Cells > 0 {
		attrs = append(attrs, attribute.Int("kbrun.matrix.cells", e.Cells))
	}
	t := &task{cells: e.Cells > 0, attemptAt: e.Time}
	// A group, a use and a matrix hold tasks; any other runs an action.
	t.action = e.Cells == 0 && e.TaskType != pipeline.ParallelType && e.TaskType != pipeline.UsesType
	if t.action {
		attrs = append(attrs, attribute.Int("kbrun.task.max_attempts", max(e.MaxAttempts, 1)))
		p.running[e.Task] = t
	}
	t.ctx, t.span = p.run.tracer.Start(ctx, name, trace.WithTimestamp(e.Time), trace.WithAttributes(attrs...))
	p.tasks[e.Index] = t
}

func taskAttrs(e report.Event) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("kbrun.task", e.Task),
		attribute.String("kbrun.task.type", e.TaskType),
		attribute.String("kbrun.task.index", e.Index),
		attribute.Bool("kbrun.task.finally", strings.HasPrefix(e.Index, "F")),
	}
}

// attempt records attempt n of t's action, from when it began to at: its
// status, and the error that ended it.
func (p *Pipeline) attempt(t *task, n int, at time.Time, status, errText string, attrs ...attribute.KeyValue) {
	// It began after the backoff the retry event announced, unless the
	// wait was cut short.
	_, s := p.run.tracer.Start(t.ctx, "attempt", trace.WithTimestamp(minTime(t.attemptAt, at)),
		trace.WithAttributes(append(attrs, attribute.Int("kbrun.attempt", n))...))
	setStatus(s, status, errText)
	s.End(trace.WithTimestamp(at))
}

func (p *Pipeline) end(e report.Event) {
	t := p.tasks[e.Index]
	if t == nil {
		// Skipped, or failed before it started (its parameters): a span
		// of its own all the same, the parent of those skipped under it.
		ctx, _ := p.parent(e.Index)
		t = &task{}
		start := e.Time.Add(-time.Duration(e.DurationMS) * time.Millisecond)
		t.ctx, t.span = p.run.tracer.Start(ctx, "task "+e.Task, trace.WithTimestamp(start), trace.WithAttributes(taskAttrs(e)...))
		p.tasks[e.Index] = t
	}
	if t.action && p.running[e.Task] == t {
		delete(p.running, e.Task)
		if e.Attempt > 0 {
			p.attempt(t, e.Attempt, e.Time, e.Status, e.Error)
		}
	}
	t.span.SetAttributes(attribute.String("kbrun.task.status", e.Status))
	if e.Reason != "" {
		t.span.SetAttributes(attribute.String("kbrun.task.reason", e.Reason))
	}
	if e.Attempt > 0 {
		t.span.SetAttributes(attribute.Int("kbrun.task.attempts", e.Attempt), attribute.Int("kbrun.task.retries", e.Attempt-1))
	}
	t.span.SetAttributes(outputAttrs(e.Outputs)...)
	setStatus(t.span, e.Status, e.Error)
	t.span.End(trace.WithTimestamp(e.Time))
}

func (p *Pipeline) runEnd(e report.Event) {
	if p.span == nil {
		return
	}
	if e.ExitCode != nil {
		p.span.SetAttributes(attribute.Int("kbrun.exit_code", *e.ExitCode))
	}
	p.span.SetAttributes(attribute.Int64("kbrun.cpu_ms", e.CPUMS), attribute.Int64("kbrun.max_rss_kb", e.MaxRSSKB))
	if e.Error != "" {
		p.run.failed.Store(true)
		setStatus(p.span, report.StatusFailed, e.Error)
	} else {
		setStatus(p.span, report.StatusOK, "")
	}
	p.span.End(trace.WithTimestamp(e.Time))
}

// setStatus maps a task's status: failed is Error with its message, ok is
// Ok, skipped is left Unset (it did not run).
func setStatus(s trace.Span, status, errText string) {
	switch status {
	case report.StatusFailed:
		s.SetStatus(codes.Error, errText)
	case report.StatusOK:
		s.SetStatus(codes.Ok, "")
	}
}

func minTime(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}
