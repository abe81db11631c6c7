package app

import (
	"fmt"
	"os"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/trace"
)

// BatchOptions are the flags of `run` and `plan` for many pipelines at
// once; engine/batch does the work.
type BatchOptions struct {
	Parallel    int
	Selector    string
	FailFast    bool
	RerunFailed string
	SummaryFile string

	// Completed: the pipelines to run when they are not exactly one file
	// named alone (nil: the one pipeline of RunOptions).
	jobs []batch.Job
	// nothingFailed: --rerun-failed found no failed pipeline.
	nothingFailed bool
}

// wanted says whether args need the batch path: anything but one file
// named alone.
func (b *BatchOptions) wanted(args []string) bool {
	if len(args) != 1 || b.Selector != "" || b.RerunFailed != "" {
		return true
	}
	info, err := os.Stat(args[0])
	return err == nil && info.IsDir()
}

func (b *BatchOptions) validate(logDir string) error {
	if b.jobs != nil && logDir != "" {
		// Its one file per run would hold one pipeline of several.
		return exit.Usagef("--log-dir works with one pipeline; with several, their lines are printed, each under its pipeline's name")
	}
	if b.Parallel < 1 {
		return exit.Usagef("--parallel must be 1 or more, got %d", b.Parallel)
	}
	if b.SummaryFile != "" {
		if err := task.Writable(b.SummaryFile, false); err != nil {
			return exit.Usagef("--summary %s: %v; nothing was run", b.SummaryFile, err)
		}
	}
	return nil
}

// completeBatch finds the pipelines of args and loads every one (a file
// with problems runs nothing, and all their problems are printed), keeps
// those that -l and --rerun-failed select, then checks those with the
// values given: a pipeline left out needs none. When one is left, it runs
// as a pipeline named alone does.
func (o *RunOptions) completeBatch(args []string) error {
	paths, err := batch.Find(args)
	if err != nil {
		return exit.Usagef("%v; nothing was run", err)
	}
	loader, err := newLoader()
	if err != nil {
		return err
	}
	jobs, loadErrs, unreadable := batch.Load(loader, paths)
	var bad error
	for _, u := range unreadable {
		bad = invalid(o.Err, u.File, u.Err)
	}
	if err := batch.Duplicates(jobs); err != nil && bad == nil {
		bad = exit.Usagef("%v; nothing was run", err)
	}
	found := len(jobs)
	selected, err := batch.Select(jobs, o.Batch.Selector)
	if err != nil {
		return exit.Usagef("%v", err)
	}
	if len(selected) == 0 && bad == nil {
		return exit.Usagef("--selector %q: none of the %d pipelines matches; nothing was run", o.Batch.Selector, found)
	}
	if selected, err = o.Batch.rerun(o, selected); err != nil {
		return err
	}
	index := map[string]int{}
	for i, j := range selected {
		index[j.File] = i
	}
	for _, j := range jobs { // in file order, for the messages
		i, ok := index[j.File]
		if !ok {
			if err := loadErrs[j.File]; err != nil {
				bad = invalid(o.Err, j.File, err)
			}
			continue
		}
		ov, err := runner.Values(j.Pipeline, loadErrs[j.File], o.given(), o.checkOptions(), false)
		if err != nil {
			bad = invalid(o.Err, j.File, err)
		}
		selected[i].Overrides = ov
	}
	if bad != nil || o.Batch.nothingFailed {
		return bad
	}
	if len(selected) == 1 {
		o.File, o.pipeline, o.overrides = selected[0].File, selected[0].Pipeline, selected[0].Overrides
		return nil
	}
	o.Batch.jobs = selected
	return nil
}

// rerun keeps the jobs whose pipeline failed in --rerun-failed's report.
func (b *BatchOptions) rerun(o *RunOptions, jobs []batch.Job) ([]batch.Job, error) {
	if b.RerunFailed == "" {
		return jobs, nil
	}
	names, err := batch.FailedIn(b.RerunFailed)
	if err != nil {
		return nil, exit.Usagef("%v; nothing was run", err)
	}
	if len(names) == 0 {
		b.nothingFailed = true
		return nil, nil
	}
	kept, missing := batch.Named(jobs, names)
	for _, n := range missing {
		fmt.Fprintf(o.Err, "kbrun: --rerun-failed %s: pipeline %s failed there but is not among the pipelines given (or selected)\n", b.RerunFailed, n)
	}
	if len(kept) == 0 {
		return nil, exit.Usagef("--rerun-failed %s: none of the pipelines that failed there is among those given; nothing was run", b.RerunFailed)
	}
	return kept, nil
}

// runBatch runs the pipelines, then writes the summary table (to stderr
// with -o json: stdout is for the events), the JUnit file and the
// Markdown summary.
func (o *RunOptions) runBatch(ctxs runContexts, tr *trace.Run) error {
	results := batch.Run(ctxs.run, o.Batch.jobs, batch.Options{
		Parallel: o.Batch.Parallel,
		FailFast: o.Batch.FailFast,
		Out:      o.Out,
		JSON:     o.Output == "json",
		Run: func(j batch.Job, rep report.Reporter) batch.Outcome {
			runID := runner.NewRunID()
			if o.RunID != "" {
				runID = o.RunID + "-" + j.Name()
			}
			res, err := o.runPipeline(ctxs, j.Pipeline, j.Overrides, runID, report.Multi{rep, tr.Pipeline()})
			if err != nil {
				return batch.Outcome{Err: err}
			}
			if exit.Code(res.Err) == exit.Invalid {
				_ = invalid(o.Err, j.File, res.Err) // its problems, before any task
			}
			return o.outcome(res)
		},
	})
	table := o.Out
	if o.Output == "json" {
		table = o.Err
	}
	if o.dryRun != task.DryRunNone {
		table = nil
	}
	var reportErr error
	if table != nil {
		reportErr = batch.WriteTable(table, results)
	}
	if o.JUnitFile != "" {
		if err := report.WriteJUnitFile(o.JUnitFile, batch.JUnits(results)...); err != nil {
			reportErr = fmt.Errorf("--junit %s: the report could not be written: %w", o.JUnitFile, err)
		}
	}
	if err := o.Batch.summarize(results, o.dryRun); err != nil {
		reportErr = err
	}
	if err := batch.Err(results); err != nil {
		if reportErr != nil {
			fmt.Fprintf(o.Err, "error: %v\n", reportErr)
		}
		if o.Output == "json" {
			return err
		}
		return &silentError{err: err}
	}
	return reportErr
}

// summarize writes the Markdown summary to --summary, or appends it to
// $GITHUB_STEP_SUMMARY (a CI page) when that is set; plans have none.
func (b *BatchOptions) summarize(results []batch.Result, dry task.DryRun) error {
	path, appendTo := b.SummaryFile, false
	if path == "" {
		path, appendTo = os.Getenv("GITHUB_STEP_SUMMARY"), true
	}
	if path == "" || dry != task.DryRunNone {
		return nil
	}
	if err := batch.WriteSummaryFile(path, appendTo, results); err != nil {
		return fmt.Errorf("the summary %s could not be written: %w", path, err)
	}
	return nil
}
