package app

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// command is which of validate, plan and run a flag set is for: they
// take the same pipelines with the same values and selection, and each
// does more than the one before.
type command int

const (
	validateCommand command = iota
	planCommand
	runCommand
)

// addRunFlags registers the flags of validate, plan and run, each flag
// once, so that a flag two commands share is the same flag, with the same
// help (kubectl's Flags step).
func addRunFlags(cmd *cobra.Command, o *RunOptions, c command) {
	f := cmd.Flags()
	// What every command checks with: values and selection.
	f.StringArrayVarP(&o.ValuesFiles, "values", "f", nil, "YAML file of var values (repeatable; later files win)")
	f.StringArrayVar(&o.Sets, "set", nil, "Set a var: NAME=VALUE (repeatable; wins over --values). Lists: NAME=[a,b] or NAME=a,b")
	f.StringArrayVar(&o.SetFiles, "set-file", nil, "Set a var to the content of a file, as it is: NAME=PATH (repeatable; wins over --values, --set wins over it); for secrets that should not be on the command line")
	f.StringSliceVar(&o.Only, "only", nil, "Run only these tasks (finally still runs)")
	f.StringVar(&o.From, "from", "", "Start at this task (finally still runs)")
	f.StringSliceVar(&o.Skip, "skip", nil, "Skip these tasks (finally still runs)")
	if c == validateCommand {
		return
	}
	// What plan and run print, and which pipelines of many.
	dryRun := "none"
	if c == planCommand {
		dryRun = "client"
	}
	f.StringVar(&o.DryRunFlag, "dry-run", dryRun, `"none" runs the pipeline; "client" (or bare --dry-run) prints the planned actions, rendered, touching nothing; "server" also sends what apply, deploy and delete would change to the API server with dryRun=All and prints its verdict per object`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.BoolVar(&o.Keep, "keep", false, "Skip the finally tasks, leaving what the run created (for debugging); a plan shows them skipped")
	f.StringVarP(&o.Output, "output", "o", "text", "Output format: text or json (one event per line)")
	f.BoolVar(&o.ShowManifests, "show-manifests", false, "In plans, print every manifest file as rendered")
	f.StringVar(&o.RunID, "run-id", "", "Run id (.pipeline.runId); default: time and a random suffix")
	_ = f.MarkHidden("run-id")
	f.StringVarP(&o.Batch.Selector, "selector", "l", "", "Run only the pipelines whose metadata.labels match this selector, as kubectl's: team=payments,tier!=db")
	if c == planCommand {
		o.Batch.Parallel = 1 // plans print one after the other
		return
	}
	// What only a run does.
	f.DurationVar(&o.Timeout, "timeout", 0, "Bound on the whole run (finally excluded), e.g. 15m; 0 means none")
	f.DurationVar(&o.FinallyTimeout, "finally-timeout", 10*time.Minute, "Bound on the finally tasks together")
	f.StringVar(&o.JUnitFile, "junit", "", "Write a JUnit XML report (one testcase per task) to this file")
	f.StringVar(&o.LogDir, "log-dir", "", "Write every task's lines to DIR/kbrun-RUNID.log; in a terminal, a run with many tasks or cells shows a live view and keeps its lines there (default: the folder of temporary files, $TMPDIR or /tmp)")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "In a terminal too, print every task's lines as they come instead of the live view")
	f.StringVar(&o.Diagnostics, "diagnostics", defaultDiagnostics, "When the run fails, write what explains it (events, pod states, failing containers' logs, the failed task's manifests, the run's events) to DIR/RUNID (docs/diagnostics.md)")
	f.BoolVar(&o.NoDiagnostics, "no-diagnostics", false, "Collect no diagnostics when the run fails")
	f.BoolVar(&o.Trace, "trace", false, "Export the run as OpenTelemetry spans over OTLP, to OTEL_EXPORTER_OTLP_ENDPOINT (default localhost:4318); on by itself when an OTEL_EXPORTER_OTLP_ENDPOINT or _TRACES_ENDPOINT variable is set, --trace=false turns it off")
	f.DurationVar(&o.LeaseDuration, "lease-duration", ownership.DefaultLeaseDuration, "How long the cluster counts this run as alive after it last renewed its lease (every third of it); a killed run's objects are taken over by later runs after this")
	f.IntVar(&o.Batch.Parallel, "parallel", 1, "How many pipelines run at once (each in its own namespace, as it declares)")
	f.BoolVar(&o.Batch.FailFast, "fail-fast", false, "After a pipeline fails, start no other; those running end normally, finally tasks included")
	f.StringVar(&o.Batch.RerunFailed, "rerun-failed", "", "Run only the pipelines that failed in this report of an earlier run: its -o json lines or its --junit file")
	f.StringVar(&o.Batch.SummaryFile, "summary", "", "Write a Markdown summary (per pipeline: result, duration, failed task and cause) to this file; default: $GITHUB_STEP_SUMMARY when set, appended to")
}

// runnerOptions turns the flags into runner.Options (kubectl's Options
// step): the one mapping, for plan, run and every pipeline of a batch.
// What only a run has (clients, Owner, reporters, contexts) the caller
// adds.
func (o *RunOptions) runnerOptions() runner.Options {
	explicitNS, _ := nsFlag(o.KubeFlags)
	return runner.Options{
		Registry:       mustRegistry(),
		Environ:        environ(),
		Namespace:      explicitNS,
		Timeout:        o.Timeout,
		FinallyTimeout: o.FinallyTimeout,
		Keep:           o.Keep,
		DryRun:         o.dryRun,
		ShowManifests:  o.ShowManifests,
		Only:           o.Only,
		From:           o.From,
		Skip:           o.Skip,
		Diagnostics:    o.diagnostics(),
		ContextNamespace: func() string {
			ns, _, err := o.KubeFlags.ToRawKubeConfigLoader().Namespace()
			if err != nil {
				return ""
			}
			return ns
		},
	}
}

// checkOptions are the options the values are checked with before
// anything runs (validate, and plan and run before they start): the
// selection, and nothing that needs a cluster or skips a task's check
// (--keep leaves finally out of a run, not out of its check).
func (o *RunOptions) checkOptions() runner.Options {
	all := o.runnerOptions()
	return runner.Options{Registry: all.Registry, Environ: all.Environ, Namespace: all.Namespace, DryRun: task.DryRunClient,
		Only: all.Only, From: all.From, Skip: all.Skip}
}
