// Package runner executes a validated pipeline: tasks in order, each with its
// timeout and retry policy, parallel groups concurrently, finally tasks after
// everything (also after failure or interruption), reporting every step.
//
// validate, plan and run share one path: the pipeline becomes one tree of
// plan nodes (tree.go), the selection is decided once on it (select.go),
// and one walker goes over it (walk.go and walk_*.go): the compile walk
// prepares every node with stand-ins (check.go: validate, and before any
// plan or run; plan.go prints what it found), the run walk prepares each
// node again with the live outputs and runs it (runner.go).
package runner

import (
	"context"
	"errors"
	"fmt"
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
	// Owner marks and records in the cluster what the run creates, and
	// Run finishes it (nil: nothing is marked). Plans and pipelines of
	// local tasks do not use it.
	Owner Owner
	// HardCtx, when cancelled, stops finally too (a second interrupt).
	HardCtx context.Context
	// Outages reports the times the API server did not answer since a
	// moment, the current one (Back zero) last (nil: never): a task that
	// times out during or after one says so.
	Outages func(since time.Time) []kube.Outage
	// Diagnostics is the folder under which a failed run writes its
	// diagnostics (DIR/RUNID, engine/diagnose); "" writes none.
	Diagnostics string
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
	// Diagnostics is the folder a failed run's diagnosis was written to
	// ("": none).
	Diagnostics string
	// OwnerErr is why the Owner could not be finished (nil: it was, or
	// there was none): what the run left then waits for its Lease to
	// expire.
	OwnerErr error
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
	base    map[string]any // vars, env, pipeline
	// main and fin are the plan tree (tasks, finally), selected; plan
	// is what the compile walk found.
	main, fin []*node
	plan      []*planned

	mu      sync.Mutex
	results []TaskResult
	// ended are the outputs, status and error of the tasks that ended,
	// by node index.
	ended map[string]map[string]any

	namespace string
	applied   *kube.AppliedSet
	workOnce  sync.Once
	workDir   string
	workLock  *os.File
	workErr   error
	// diag is what a diagnosis needs, kept while the run goes (nil:
	// none will be made).
	diag *diag
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
	return &runner{p: p, opts: opts, ended: map[string]map[string]any{}, applied: &kube.AppliedSet{Owner: opts.Owner}, rep: opts.Reporter}
}

// Run executes p, then finishes its Owner. The returned Result is never
// nil.
func Run(ctx context.Context, p *pipeline.Pipeline, opts Options) *Result {
	opts = opts.defaults()
	opts.Owner = ownerFor(p, opts)
	res := run(ctx, p, opts)
	res.OwnerErr = finishOwner(opts, res)
	return res
}

func run(ctx context.Context, p *pipeline.Pipeline, opts Options) *Result {
	start := time.Now()
	r := newRunner(p, opts)
	res := &Result{RunID: opts.RunID}
	err := r.check()
	if err == nil {
		err = r.checkCluster()
	}
	started := err == nil
	if started {
		r.diag = r.newDiag()
		if r.diag != nil {
			r.rep = report.Masked(r.secrets, report.Multi{opts.Reporter, r.diag})
		} else {
			r.rep = report.Masked(r.secrets, opts.Reporter)
		}
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
	if r.diag != nil {
		res.Diagnostics = r.diag.dir
	}
	if !started {
		// Nothing ran (bad values, selection or cluster configuration):
		// the caller reports the error; there is no run to end.
		return res
	}
	if r.workDir != "" && !opts.Keep {
		// Before run.end, so that a folder left behind is said in the run.
		if rmErr := os.RemoveAll(r.workDir); rmErr != nil {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "could not remove the run's work folder (the next run removes it): " + rmErr.Error()})
		}
	}
	code := exit.Code(err)
	ev := report.Event{Time: time.Now(), Type: report.RunEnd, Pipeline: p.Name, RunID: opts.RunID, DurationMS: res.Duration.Milliseconds(), ExitCode: &code, DryRun: opts.DryRun != task.DryRunNone}
	if err != nil {
		ev.Error = err.Error()
	}
	ev.CPUMS, ev.MaxRSSKB = selfUsage()
	r.rep.Report(ev)
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
		// Kept a list, so that run prints the problems as validate does.
		return prepare.MaskErrors(r.secrets, err)
	case exit.TaskFailed:
		var te *exit.TaskError
		if errors.As(err, &te) {
			return &exit.TaskError{Task: te.Task, Err: errors.New(r.secrets.Mask(te.Err.Error()))}
		}
		return masked
	}
	return err
}

// execute runs the selected tasks, then finally: the run walk over the
// tree the compile walk checked.
func (r *runner) execute(ctx context.Context) error {
	runCtx := ctx
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, fmt.Errorf("run timeout of %s exceeded (--timeout)", r.opts.Timeout))
		defer cancel()
	}
	w := &walker{r: r, run: true}
	top := newScope(r.base)
	failure, notStarted := w.seq(runCtx, r.main, top, false)
	interrupted := interruption(ctx)
	if ie, ok := interrupted.(*exit.InterruptedError); ok && ie.Stream && failure == nil && !notStarted {
		// The output stream broke once every task had ended: the run
		// keeps its result.
		interrupted = nil
	} else if failure == nil && runCtx.Err() != nil {
		failure = context.Cause(runCtx)
	}

	// The finally tasks' bound starts now: a diagnosis takes its time from
	// it, before cleanup deletes what it would look at. A run stopped by a
	// signal is not diagnosed: its user wants it to end.
	finCtx, cancel := context.WithTimeoutCause(r.opts.HardCtx, r.opts.FinallyTimeout, fmt.Errorf("finally timeout of %s exceeded", r.opts.FinallyTimeout))
	defer cancel()
	if failure != nil && interrupted == nil {
		r.diagnose(finCtx)
	}
	finErr := r.finally(finCtx, w, top)
	if ie, ok := interruption(ctx).(*exit.InterruptedError); ok && !ie.Stream && interrupted == nil {
		// A signal while finally ran (it runs to its end, unless a second
		// signal stops it): the run ends as stopped by it.
		interrupted = ie
	}
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

// finally runs the finally tasks with their own context (ctx, bounded by
// --finally-timeout): the run's may be cancelled or timed out already. Every finally task runs even when an
// earlier one failed: each may clean up something different. With --keep
// none runs (the selection skipped them).
func (r *runner) finally(ctx context.Context, w *walker, top *scope) error {
	if len(r.fin) == 0 {
		return nil
	}
	first, _ := w.seq(ctx, r.fin, top, true)
	switch left := r.applied.List(); {
	case len(left) == 0:
	case r.opts.Keep:
		r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "--keep: left in the cluster:\n" + describeRefs(left)})
	case ctx.Err() != nil:
		r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "cleanup stopped (" + causeText(ctx) + "); left behind in the cluster:\n" + describeRefs(left)})
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
