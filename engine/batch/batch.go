package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
)

// Job is one pipeline of a batch, loaded and validated with its values.
type Job struct {
	File      string
	Pipeline  *pipeline.Pipeline
	Overrides map[string]any
}

// Name is the pipeline's name, unique in a batch.
func (j Job) Name() string { return j.Pipeline.Name }

// Outcome is how one pipeline's run ended.
type Outcome struct {
	// Err is nil when the run passed; its exit code is exit.Code(Err).
	Err error
	// Diagnostics is the folder where the run left what it gathered for a
	// post-mortem (--diagnostics), if it did: the summary points to it.
	Diagnostics string
}

// RunFunc runs one pipeline, sending its events to rep (unmasked: the
// runner masks them). The context that stops it is its own: the one Run
// is given, which only keeps further pipelines from starting.
type RunFunc func(j Job, rep report.Reporter) Outcome

// Options configure a batch.
type Options struct {
	// Parallel is how many pipelines run at once (at least 1).
	Parallel int
	// FailFast: after the first failure no further pipeline starts; those
	// running go on to their end, finally tasks included.
	FailFast bool
	// Out gets each pipeline's lines prefixed with its name, or with JSON
	// its events, each naming its pipeline.
	Out  io.Writer
	JSON bool
	Run  RunFunc
}

// Statuses of a Result.
const (
	Passed = "passed"
	Failed = "failed"
	NotRun = "not run"
)

// Result is how one pipeline of a batch ended.
type Result struct {
	Name, File string
	Status     string
	Duration   time.Duration
	// FailedTask and Cause say why a failed pipeline failed: its failed
	// task and that task's error (masked, on one line, cut at MaxCause),
	// or, when no task failed, the run's error; for one not run, why not.
	FailedTask, Cause string
	Diagnostics       string
	Err               error
	// JUnit is the pipeline's testsuite.
	JUnit *report.JUnit
}

// Run runs the jobs, in order, at most Parallel at once, and returns their
// results in the same order. A cancelled ctx (a signal) starts no further
// pipeline; the running ones end as a signal ends them.
func Run(ctx context.Context, jobs []Job, o Options) []Result {
	results := make([]Result, len(jobs))
	slots := make(chan struct{}, max(o.Parallel, 1))
	out := &lockedWriter{w: o.Out}
	var json *report.JSON
	if o.JSON {
		json = report.NewJSON(out)
	}
	width := 0
	for _, j := range jobs {
		width = max(width, len(j.Name()))
	}
	var (
		mu        sync.Mutex
		firstFail string
		wg        sync.WaitGroup
	)
	for i, j := range jobs {
		results[i] = Result{Name: j.Name(), File: j.File, Status: NotRun, JUnit: report.NewJUnit()}
		slots <- struct{}{}
		mu.Lock()
		stop := firstFail
		mu.Unlock()
		switch {
		case ctx.Err() != nil:
			results[i].Cause = "not started: the run was stopped (" + context.Cause(ctx).Error() + ")"
		case o.FailFast && stop != "":
			results[i].Cause = fmt.Sprintf("not started: --fail-fast, pipeline %s failed", stop)
		default:
			wg.Add(1)
			go func(r *Result) {
				defer func() { <-slots; wg.Done() }()
				var shown report.Reporter
				var lines *lineWriter
				if json != nil {
					shown = named(j.Name(), json)
				} else {
					lines = &lineWriter{out: out, prefix: fmt.Sprintf("%-*s | ", width, j.Name())}
					shown = report.NewText(lines, taskNames(j.Pipeline))
				}
				col := &Tracker{}
				start := time.Now()
				oc := o.Run(j, report.Multi{shown, r.JUnit, col})
				if lines != nil {
					lines.flush()
				}
				*r = col.Result(j, oc, time.Since(start), r.JUnit)
				if r.Status == Failed {
					mu.Lock()
					if firstFail == "" {
						firstFail = j.Name()
					}
					mu.Unlock()
				}
			}(&results[i])
			continue
		}
		<-slots
	}
	wg.Wait()
	for i := range results {
		results[i].JUnit.SetName(results[i].Name)
	}
	return results
}

// Result is how the pipeline of j ended: its outcome, with what its
// events said; wall is its duration should it have sent no run.end.
func (c *Tracker) Result(j Job, oc Outcome, wall time.Duration, junit *report.JUnit) Result {
	r := Result{Name: j.Name(), File: j.File, Duration: wall, Diagnostics: oc.Diagnostics, Err: oc.Err, JUnit: junit, Status: Passed}
	if d, ok := c.duration(); ok {
		r.Duration = d
	}
	if oc.Err == nil {
		return r
	}
	r.Status = Failed
	var te *exit.TaskError
	if errors.As(oc.Err, &te) {
		r.FailedTask = te.Task
	}
	if r.FailedTask == "" {
		r.FailedTask = c.firstFailed()
	}
	r.Cause = c.cause(r.FailedTask)
	if r.Cause == "" {
		r.Cause = oneLine(oc.Err.Error())
	}
	return r
}

// Err is the batch's error: nil when every pipeline passed; otherwise one
// that joins the pipelines' errors, so that its exit code is theirs (a
// signal's, 2 for a pipeline found invalid when it started, else 1).
func Err(results []Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &BatchError{Failed: len(errs), Of: len(results), err: errors.Join(errs...)}
}

// BatchError says how many pipelines of a batch failed.
type BatchError struct {
	Failed, Of int
	err        error
}

func (e *BatchError) Error() string { return fmt.Sprintf("%d of %d pipelines failed", e.Failed, e.Of) }
func (e *BatchError) Unwrap() error { return e.err }

func taskNames(p *pipeline.Pipeline) []string {
	var out []string
	for _, t := range p.AllTasks() {
		out = append(out, t.Name)
	}
	return out
}
