package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/trace"
)

// RunOptions are the options of `kbrun run` and `kbrun plan`, completed and
// validated before anything runs (kubectl's Complete/Validate/Run).
type RunOptions struct {
	IO
	KubeFlags *genericclioptions.ConfigFlags

	File           string
	DryRunFlag     string
	ValuesFiles    []string
	Sets           []string
	SetFiles       []string
	Timeout        time.Duration
	FinallyTimeout time.Duration
	Keep           bool
	Only, Skip     []string
	From           string
	Output         string
	JUnitFile      string
	RunID          string
	ShowManifests  bool
	LeaseDuration  time.Duration
	LogDir         string
	Verbose        bool
	Batch          BatchOptions
	Diagnostics    string
	NoDiagnostics  bool
	Trace          bool

	// Completed.
	dryRun    task.DryRun
	pipeline  *pipeline.Pipeline
	overrides map[string]any
}

func newRunCommand(streams IO, kubeFlags *genericclioptions.ConfigFlags, planOnly bool) *cobra.Command {
	o := &RunOptions{IO: streams, KubeFlags: kubeFlags}
	cmd := &cobra.Command{
		Use:   "run PATH...",
		Short: "Run pipelines: files, and every pipeline file in folders",
		Example: `  kbrun run pipelines/kaniko-rootless.yaml
  kbrun run pipelines/kaniko-rootless.yaml -n team-a --set capabilities='[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE]'
  kbrun run pipelines/kaniko-rootless.yaml --dry-run
  kbrun run examples/ --parallel 3 -l team=payments --junit report.xml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if planOnly {
				exitAtOnce(cmd.Context())
			}
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	c := runCommand
	if planOnly {
		c = planCommand
		cmd.Use = "plan PATH..."
		cmd.Short = "Print the numbered plan of a pipeline, rendered, without running anything"
		cmd.Example = `  kbrun plan pipelines/kaniko-rootless.yaml
  kbrun plan pipelines/kaniko-rootless.yaml --show-manifests --set capabilities=CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE
  kbrun plan pipelines/kaniko-rootless.yaml --dry-run=server   # ask the API server what apply, deploy and delete would change`
	}
	addRunFlags(cmd, o, c)
	return cmd
}

// Complete loads the pipelines and the var overrides.
func (o *RunOptions) Complete(args []string) error {
	o.File = args[0]
	switch o.DryRunFlag {
	case "", "none", "false":
		o.dryRun = task.DryRunNone
	case "client", "true":
		o.dryRun = task.DryRunClient
	case "server":
		o.dryRun = task.DryRunServer
	default:
		return exit.Usagef(`--dry-run must be "none", "client" or "server", got %q`, o.DryRunFlag)
	}
	if o.Batch.wanted(args) {
		return o.completeBatch(args)
	}
	loader, err := newLoader()
	if err != nil {
		return err
	}
	p, err := loader.Load(o.File)
	ov, err := runner.Values(p, err, o.given(), o.checkOptions(), false)
	if err != nil {
		return invalid(o.Err, o.File, err)
	}
	o.pipeline = p
	o.overrides = ov
	return nil
}

// Validate checks flag combinations.
func (o *RunOptions) Validate() error {
	if o.Output != "text" && o.Output != "json" {
		return exit.Usagef(`--output must be "text" or "json", got %q`, o.Output)
	}
	if err := o.validateSelection(); err != nil {
		return err
	}
	if o.NoDiagnostics && o.Diagnostics != defaultDiagnostics {
		return exit.Usagef("--diagnostics and --no-diagnostics cannot be used together")
	}
	// A report that could not be written would be lost after the whole
	// run: find out before it starts.
	if o.JUnitFile != "" {
		if err := task.Writable(o.JUnitFile, false); err != nil {
			return exit.Usagef("--junit %s: %v; nothing was run", o.JUnitFile, err)
		}
	}
	return o.Batch.validate(o.LogDir)
}

// validateSelection checks the flags that select tasks.
func (o *RunOptions) validateSelection() error {
	if len(o.Only) > 0 && o.From != "" {
		return exit.Usagef("--only and --from cannot be used together")
	}
	return nil
}

// Run runs (or plans) the pipeline and reports it.
func (o *RunOptions) Run(cmd *cobra.Command) error {
	ctxs := contexts(cmd.Context())
	if o.Batch.nothingFailed {
		fmt.Fprintf(o.Err, "kbrun: --rerun-failed %s: no pipeline failed there; nothing to run\n", o.Batch.RerunFailed)
		return nil
	}
	// One trace per process, a pipeline span per pipeline. Not the run's
	// context: a signal that stops the run must not stop the sending of
	// its trace.
	tr := trace.Start(context.Background(), trace.Options{Flag: o.traceFlag(cmd), Getenv: os.Getenv, Warn: o.Err, Version: version()})
	defer tr.End() // after everything else: a failed or interrupted run's spans are sent too
	if o.Batch.jobs != nil {
		return o.runBatch(ctxs, tr)
	}
	runID := o.RunID
	if runID == "" {
		runID = runner.NewRunID()
	}
	shown, closeLog, err := o.printers(runID)
	if err != nil {
		return err
	}
	defer closeLog()
	reps := report.Multi{shown, tr.Pipeline()}
	var junit *report.JUnit
	if o.JUnitFile != "" {
		junit = report.NewJUnit()
		reps = append(reps, junit)
	}
	tracker := &batch.Tracker{}
	reps = append(reps, tracker)
	start := time.Now()
	res, err := o.runPipeline(ctxs, o.pipeline, o.overrides, runID, reps)
	if err != nil {
		return err
	}
	var reportErr error
	if junit != nil {
		if reportErr = report.WriteJUnitFile(o.JUnitFile, junit); reportErr != nil {
			reportErr = fmt.Errorf("--junit %s: the report could not be written: %w", o.JUnitFile, reportErr)
		}
	}
	job := batch.Job{File: o.File, Pipeline: o.pipeline}
	if err := o.Batch.summarize([]batch.Result{tracker.Result(job, o.outcome(res), time.Since(start), junit)}, o.dryRun); err != nil && reportErr == nil {
		reportErr = err
	}
	if res.Err != nil && reportErr != nil {
		fmt.Fprintf(o.Err, "error: %v\n", reportErr)
	}
	if res.Err != nil && exit.Code(res.Err) == exit.Invalid {
		return invalid(o.Err, o.File, res.Err)
	}
	if res.Err != nil {
		// Errors before the run started (exit 2) go to stderr. After that
		// the text report has shown them; with -o json, stderr still gets
		// one line for the humans reading CI logs.
		if exit.Code(res.Err) == exit.Invalid || o.Output == "json" {
			return res.Err
		}
		return &silentError{err: res.Err}
	}
	return reportErr // a run CI cannot read about did not pass
}

// runPipeline runs (or plans) one pipeline with its own cluster clients
// and Lease, sending its events to reps. The error is for flags wrong for
// any run (--run-id, --lease-duration): nothing ran.
func (o *RunOptions) runPipeline(ctxs runContexts, p *pipeline.Pipeline, overrides map[string]any, runID string, reps report.Reporter) (*runner.Result, error) {
	provider := kube.NewFlagsProvider(o.KubeFlags)
	provider.Patience.Notify = func(out kube.Outage) { reps.Report(runner.OutageEvent(out)) }
	var owner runner.Owner
	if o.dryRun == task.DryRunNone {
		own, err := ownership.New(ownership.Options{RunID: runID, Pipeline: p.Name, Kube: provider, LeaseDuration: o.LeaseDuration})
		if err != nil {
			return nil, &exit.UsageError{Err: err} // --run-id or --lease-duration, wrong for any run
		}
		owner = own
	}
	opts := o.runnerOptions()
	opts.Kube, opts.Outages, opts.Owner = provider, provider.Patience.Since, owner
	opts.Reporter, opts.Overrides, opts.RunID, opts.HardCtx = reps, overrides, runID, ctxs.hard
	res := runner.Run(ctxs.run, p, opts)
	if res.OwnerErr != nil {
		fmt.Fprintf(o.Err, "kbrun: warning: %v; `kbrun cleanup --expired` finds what the run left once its lease has expired\n", res.OwnerErr)
	}
	provider.Close()
	return res, nil
}

// outcome is what the summary of a run says about it. The diagnostics
// folder (--diagnostics), when a run leaves one, goes in its Diagnostics.
func (o *RunOptions) outcome(res *runner.Result) batch.Outcome {
	return batch.Outcome{Err: res.Err, Diagnostics: res.Diagnostics}
}

// defaultDiagnostics is the folder, in the working directory, under which
// failed runs write their diagnostics: beside the run, where CI keeps
// artifacts, and never in the work folder the run removes. (A variable:
// the package's tests move it out of the source tree.)
var defaultDiagnostics = "kbrun-diagnostics"

// diagnostics is where a failed run writes its diagnostics ("": none).
func (o *RunOptions) diagnostics() string {
	if o.NoDiagnostics {
		return ""
	}
	return o.Diagnostics
}

func nsFlag(f *genericclioptions.ConfigFlags) (string, bool) {
	if f.Namespace != nil && *f.Namespace != "" {
		return *f.Namespace, true
	}
	return "", false
}

func taskNames(p *pipeline.Pipeline) []string {
	var out []string
	for _, t := range p.AllTasks() {
		out = append(out, t.Name)
	}
	return out
}

func environ() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
