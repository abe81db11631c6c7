// Package runner executes a validated pipeline: tasks in order, each with its
// timeout and retry policy, parallel groups concurrently, finally tasks after
// everything (also after failure or interruption), reporting every step.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
)

// Options configure one run.
type Options struct {
	Registry *task.Registry
	// Kube gives the cluster clients; made on first use by a cluster task.
	Kube kube.Provider
	// Reporter receives the events (unmasked: the runner masks them).
	Reporter report.Reporter
	// Overrides replace var defaults (from --values and --set).
	Overrides map[string]any
	// Environ is the .env template data.
	Environ map[string]string
	// RunID names this run (.pipeline.runId); default: time and random.
	RunID string
	// Namespace is -n/--namespace when given explicitly.
	Namespace string
	// ContextNamespace returns the kubeconfig context's namespace; it is
	// asked only when neither -n nor the pipeline names one.
	ContextNamespace func() string
	// Timeout bounds the tasks of the run (not finally); 0 = none.
	Timeout time.Duration
	// FinallyTimeout bounds the finally tasks together; default 10m.
	FinallyTimeout time.Duration
	// Keep skips finally (debugging: leave what the run made).
	Keep   bool
	DryRun task.DryRun
	// ShowManifests adds every rendered manifest file to the plan.
	ShowManifests bool
	// Only, From and Skip select tasks for reruns; finally always runs.
	Only []string
	From string
	Skip []string
	// Owner marks and records in the cluster what the run creates
	// (nil: nothing is marked).
	Owner kube.Owner
	// HardCtx, when cancelled, stops finally too (a second interrupt).
	HardCtx context.Context
	// Sleep waits between attempts; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0,1) for jitter; tests replace it.
	Rand func() float64
}

// TaskResult is how one task ended.
type TaskResult struct {
	Name, Type, Index string
	Status            string
	Attempts          int
	Duration          time.Duration
	Err               error
	Outputs           task.Outputs
}

// Result is how the run ended. Err is nil on success; exit.Code(Err) gives
// the process exit code.
type Result struct {
	RunID    string
	Tasks    []TaskResult
	Duration time.Duration
	Err      error
	// Applied is what the run applied and did not delete.
	Applied []kube.ObjectRef
}

// NewRunID returns a run id usable in Kubernetes names and image tags.
func NewRunID() string {
	return fmt.Sprintf("%s-%04x", time.Now().UTC().Format("20060102150405"), rand.IntN(1<<16))
}

type runner struct {
	p       *pipeline.Pipeline
	opts    Options
	rep     report.Reporter
	secrets *secret.Set
	pp      *prepare.Preparer
	steps   []*planned
	base    map[string]any // vars, env, pipeline

	mu      sync.Mutex
	outputs map[string]any // .tasks: NAME -> outputs, status and error
	results []TaskResult
	ran     map[string]bool // tasks that ended (any status), for messages

	namespace string
	applied   *kube.AppliedSet
	workOnce  sync.Once
	workDir   string
	workLock  *os.File
	workErr   error
}

func (o Options) defaults() Options {
	if o.RunID == "" {
		o.RunID = NewRunID()
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.FinallyTimeout == 0 {
		o.FinallyTimeout = 10 * time.Minute
	}
	if o.HardCtx == nil {
		o.HardCtx = context.Background()
	}
	if o.Reporter == nil {
		o.Reporter = report.Func(func(report.Event) {})
	}
	return o
}

func newRunner(p *pipeline.Pipeline, opts Options) *runner {
	return &runner{p: p, opts: opts, outputs: map[string]any{}, ran: map[string]bool{}, applied: &kube.AppliedSet{Owner: opts.Owner}, rep: opts.Reporter}
}

// Run executes p. The returned Result is never nil.
func Run(ctx context.Context, p *pipeline.Pipeline, opts Options) *Result {
	start := time.Now()
	opts = opts.defaults()
	r := newRunner(p, opts)
	res := &Result{RunID: opts.RunID}
	err := r.check()
	if err == nil {
		err = r.checkCluster()
	}
	started := err == nil
	if started {
		r.rep = report.Masked(r.secrets, opts.Reporter)
		r.rep.Report(report.Event{Time: time.Now(), Type: report.RunStart, Pipeline: p.Name, RunID: opts.RunID, DryRun: opts.DryRun != task.DryRunNone})
		if opts.DryRun != task.DryRunNone {
			err = r.report(ctx)
		} else {
			r.sweep()
			err = r.execute(ctx)
		}
	}
	res.Duration = time.Since(start)
	res.Err = r.maskError(err)
	res.Tasks = r.results
	res.Applied = r.applied.List()
	if !started {
		// Nothing ran (bad values, selection or cluster configuration):
		// the caller reports the error; there is no run to end.
		return res
	}
	code := exit.Code(err)
	ev := report.Event{Time: time.Now(), Type: report.RunEnd, Pipeline: p.Name, RunID: opts.RunID, DurationMS: res.Duration.Milliseconds(), ExitCode: &code, DryRun: opts.DryRun != task.DryRunNone}
	if err != nil {
		ev.Error = err.Error()
	}
	ev.CPUMS, ev.MaxRSSKB = selfUsage()
	r.rep.Report(ev)
	if r.workDir != "" && !opts.Keep {
		_ = os.RemoveAll(r.workDir)
	}
	if r.workLock != nil {
		if opts.Keep {
			r.workLock.Close() // the next run removes the kept folder
		} else {
			releaseWorkDir(r.workLock)
		}
	}
	return res
}

// maskError keeps secrets out of the error the caller prints, keeping its
// exit code.
func (r *runner) maskError(err error) error {
	if err == nil || r.secrets.Empty() {
		return err
	}
	masked := errors.New(r.secrets.Mask(err.Error()))
	switch exit.Code(err) {
	case exit.Invalid:
		return &exit.InvalidError{Err: masked}
	case exit.TaskFailed:
		var te *exit.TaskError
		if errors.As(err, &te) {
			return &exit.TaskError{Task: te.Task, Err: errors.New(r.secrets.Mask(te.Err.Error()))}
		}
		return masked
	}
	return err
}

// checkCluster makes sure, before the first task, that a pipeline with
// cluster tasks has a usable cluster configuration.
func (r *runner) checkCluster() error {
	if r.opts.DryRun == task.DryRunClient || !r.usesCluster() {
		return nil
	}
	if r.opts.Kube == nil {
		return &exit.InvalidError{Err: fmt.Errorf("the pipeline has cluster tasks but no cluster is configured")}
	}
	// Builds the config and clients only: no request is sent yet.
	if _, err := r.opts.Kube.Clients(); err != nil {
		return &exit.InvalidError{Err: fmt.Errorf("the pipeline has cluster tasks, but %w", err)}
	}
	return nil
}

func (r *runner) usesCluster() bool {
	for _, t := range r.p.AllTasks() {
		typ, ok := r.opts.Registry.Get(t.Type)
		if !ok {
			continue
		}
		if ct, ok := typ.(task.ClusterType); ok && ct.UsesCluster() {
			return true
		}
	}
	return false
}

// data returns the template data as of now. Tasks outside parallel groups
// run one after another, so templates read the live .tasks (copying it for
// each of n tasks would cost O(n²)); a group takes one snapshot for all its
// children (see snapshot), since its children end while others are prepared.
func (r *runner) data() map[string]any {
	out := make(map[string]any, len(r.base)+1)
	for k, v := range r.base {
		out[k] = v
	}
	out["tasks"] = r.outputs
	return out
}

// snapshot returns the template data with a copy of .tasks as of now.
func (r *runner) snapshot() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	tasks := make(map[string]any, len(r.outputs))
	for k, v := range r.outputs {
		tasks[k] = v
	}
	out := r.data()
	out["tasks"] = tasks
	return out
}

// execute runs the selected tasks, then finally.
func (r *runner) execute(ctx context.Context) error {
	runCtx := ctx
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, fmt.Errorf("run timeout of %s exceeded (--timeout)", r.opts.Timeout))
		defer cancel()
	}
	var failure error
	notStarted := false
	for i, t := range r.p.Tasks {
		idx := fmt.Sprint(i + 1)
		if runCtx.Err() != nil {
			r.skip(t, idx, "not started: "+causeText(runCtx))
			notStarted = true
			continue
		}
		if !r.selected(t, i) {
			r.skip(t, idx, "not selected (--only/--from/--skip)")
			continue
		}
		if err := r.runOne(runCtx, t, idx, false, nil); err != nil && failure == nil {
			failure = err
		}
		if failure != nil {
			// Tasks after a failure do not start; they are listed as skipped.
			for j, rest := range r.p.Tasks[i+1:] {
				r.skip(rest, fmt.Sprint(i+j+2), "not started: an earlier task failed")
			}
			break
		}
	}
	interrupted := interruption(ctx)
	if ie, ok := interrupted.(*exit.InterruptedError); ok && ie.Stream && failure == nil && !notStarted {
		// The output stream broke once every task had ended: the run
		// keeps its result.
		interrupted = nil
	} else if failure == nil && runCtx.Err() != nil {
		failure = context.Cause(runCtx)
	}

	finErr := r.finally()
	switch {
	case interrupted != nil:
		return interrupted
	case failure != nil:
		return failure
	case finErr != nil:
		return finErr
	}
	return nil
}

// finally runs the finally tasks with their own context: the run's may be
// cancelled or timed out already. Every finally task runs even when an
// earlier one failed: each may clean up something different.
func (r *runner) finally() error {
	if len(r.p.Finally) == 0 {
		return nil
	}
	if r.opts.Keep {
		for i, t := range r.p.Finally {
			r.skip(t, fmt.Sprintf("F%d", i+1), "--keep")
		}
		if left := r.applied.List(); len(left) > 0 {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "--keep: left in the cluster:\n" + describeRefs(left)})
		}
		return nil
	}
	ctx, cancel := context.WithTimeoutCause(r.opts.HardCtx, r.opts.FinallyTimeout, fmt.Errorf("finally timeout of %s exceeded", r.opts.FinallyTimeout))
	defer cancel()
	var first error
	for i, t := range r.p.Finally {
		idx := fmt.Sprintf("F%d", i+1)
		if ctx.Err() != nil {
			r.skip(t, idx, "not started: "+causeText(ctx))
			continue
		}
		if err := r.runOne(ctx, t, idx, true, nil); err != nil && first == nil {
			first = err
		}
	}
	if ctx.Err() != nil {
		if left := r.applied.List(); len(left) > 0 {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "cleanup stopped (" + causeText(ctx) + "); left behind in the cluster:\n" + describeRefs(left)})
		}
	}
	return first
}

func describeRefs(refs []kube.ObjectRef) string {
	lines := make([]string, len(refs))
	for i, ref := range refs {
		name := ref.Name
		if ref.Namespace != "" {
			name = ref.Namespace + "/" + name
		}
		existed := ""
		if ref.Existed {
			existed = ", existed before the run"
		}
		lines[i] = fmt.Sprintf("  %s %s (applied by task %s%s)", ref.Kind, name, ref.Task, existed)
	}
	return strings.Join(lines, "\n")
}

// interruption returns the run's InterruptedError if ctx was cancelled by a signal.
func interruption(ctx context.Context) error {
	var ie *exit.InterruptedError
	if errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return nil
}

func causeText(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return "cancelled"
}

func (r *runner) skip(t *pipeline.Task, idx, reason string) {
	r.end(t, idx, TaskResult{Status: report.StatusSkipped}, reason)
	for i, c := range t.Children {
		r.skip(c, fmt.Sprintf("%s.%d", idx, i+1), reason)
	}
}

// end records a task's result and reports it. Every task that ended has
// .tasks.NAME.status and .error; outputs are kept whatever the status
// (a failed exec still has its exit code).
func (r *runner) end(t *pipeline.Task, idx string, tr TaskResult, reason string) {
	tr.Name, tr.Type, tr.Index = t.Name, t.Type, idx
	outs := make(map[string]any, len(tr.Outputs)+2)
	for k, v := range tr.Outputs {
		outs[k] = v
	}
	outs["status"], outs["error"] = tr.Status, ""
	if tr.Err != nil {
		outs["error"] = r.secrets.Mask(tr.Err.Error())
	}
	r.mu.Lock()
	r.results = append(r.results, tr)
	r.ran[t.Name] = true
	r.outputs[t.Name] = outs
	r.mu.Unlock()
	ev := report.Event{Time: time.Now(), Type: report.TaskEnd, Task: t.Name, TaskType: t.Type, Index: idx, Status: tr.Status, Reason: reason, Attempt: tr.Attempts, DurationMS: tr.Duration.Milliseconds()}
	if tr.Err != nil {
		ev.Error = tr.Err.Error()
	}
	if len(tr.Outputs) > 0 {
		ev.Outputs = map[string]any(tr.Outputs)
	}
	r.rep.Report(ev)
}

// runOne prepares a task (or a parallel group) with the values of now and
// runs it; it returns the task's error unless the task may fail
// (continueOnError).
//
// groupData is the template data a group's children share (nil for a task
// outside groups: it reads the live data).
func (r *runner) runOne(ctx context.Context, t *pipeline.Task, idx string, finally bool, groupData map[string]any) error {
	start := time.Now()
	data := groupData
	if data == nil {
		data = r.data()
	}
	st, err := r.pp.Task(t, prepare.Data{Values: data})
	if err != nil {
		return r.fail(t, idx, start, 0, nil, err, finally)
	}
	if st.Skip != "" {
		r.end(t, idx, TaskResult{Status: report.StatusSkipped}, st.Skip)
		for i, c := range t.Children {
			r.skip(c, fmt.Sprintf("%s.%d", idx, i+1), "group skipped")
		}
		return nil
	}
	tctx, cancel := context.WithTimeoutCause(ctx, st.Timeout, &timeoutError{task: t.Name, d: st.Timeout})
	defer cancel()

	if len(t.Matrix) > 0 {
		return r.matrix(ctx, t, idx, start, finally, groupData)
	}
	if t.Type == pipeline.ParallelType {
		return r.group(tctx, t, idx, start, finally, groupData)
	}
	if t.Type == pipeline.UsesType {
		return r.use(tctx, t, idx, start, finally, groupData)
	}
	action := st.Action
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: idx, Finally: finally, Describe: action.Describe(), Namespace: st.Namespace, MaxAttempts: t.Retry.Attempts})

	stdout := &lineWriter{emit: r.emitter(t, "stdout")}
	stderr := &lineWriter{emit: r.emitter(t, "stderr")}
	env := &task.Env{
		Task:      t.Name,
		Pipeline:  task.PipelineInfo{Name: r.p.Name, Dir: r.p.Dir, File: r.p.File, RunID: r.opts.RunID},
		Namespace: r.namespace,
		Stdout:    stdout,
		Stderr:    stderr,
		Logf: func(format string, args ...any) {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskLog, Task: t.Name, TaskType: t.Type, Line: fmt.Sprintf(format, args...)})
		},
		Kube:    r.opts.Kube,
		Applied: r.applied,
		DryRun:  r.opts.DryRun,
		WorkDir: r.work,
	}
	rctx := task.WithRetryNotice(tctx, func(attempt int, err error) {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.RequestRetry, Task: t.Name, TaskType: t.Type, Attempt: attempt, Error: err.Error()})
	})
	outputs, attempts, err := r.attempt(rctx, t, action, env)
	stdout.Flush()
	stderr.Flush()
	if err != nil {
		return r.fail(t, idx, start, attempts, outputs, err, finally)
	}
	r.end(t, idx, TaskResult{Status: report.StatusOK, Attempts: attempts, Duration: time.Since(start), Outputs: outputs}, "")
	return nil
}

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
			return out, n, stopped(ctx, err, n)
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
			return out, n, stopped(ctx, lastErr, n)
		}
	}
}

// stopped explains why a task's context ended: its own timeout, the run's
// timeout, or an interrupt, with the last error seen.
func stopped(ctx context.Context, last error, attempt int) error {
	cause := context.Cause(ctx)
	var te *timeoutError
	if errors.As(cause, &te) {
		if last != nil && !errors.Is(last, context.DeadlineExceeded) && !errors.Is(last, context.Canceled) && !errors.As(last, &te) {
			return fmt.Errorf("%w (attempt %d); last error: %v", te, attempt, last)
		}
		return fmt.Errorf("%w (attempt %d)", te, attempt)
	}
	if cause == nil {
		cause = ctx.Err()
	}
	return cause
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

// selfUsage returns this process's CPU time in ms and peak RSS in KiB
// (getrusage RUSAGE_SELF: children such as go build are not counted).
func selfUsage() (cpuMS, maxRSSKB int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu.Milliseconds(), ru.Maxrss
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

func (r *runner) fail(t *pipeline.Task, idx string, start time.Time, attempts int, outputs task.Outputs, err error, finally bool) error {
	r.end(t, idx, TaskResult{Status: report.StatusFailed, Attempts: attempts, Duration: time.Since(start), Err: err, Outputs: outputs}, "")
	if t.ContinueOnError {
		return nil
	}
	return &exit.TaskError{Task: t.Name, Err: err}
}

func (r *runner) work() (string, error) {
	r.workOnce.Do(func() {
		r.workDir, r.workLock, r.workErr = makeWorkDir(r.opts.RunID)
	})
	return r.workDir, r.workErr
}

func (r *runner) emitter(t *pipeline.Task, stream string) func(string) {
	return func(line string) {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskOutput, Task: t.Name, TaskType: t.Type, Stream: stream, Line: line})
	}
}
