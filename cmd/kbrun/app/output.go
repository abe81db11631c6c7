package app

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// liveMinUnits: a run of fewer tasks (and no matrix) prints its lines as
// they come even in a terminal; they fit on a screen.
const liveMinUnits = 10

// printers returns what the run's events go to on stdout: JSON; in a
// terminal, for a run with many tasks or cells, the live view with every
// line in a log file; otherwise (CI, a pipe, -v) the text as it comes, and
// the log file too when --log-dir asks for it. close closes the log file.
func (o *RunOptions) printers(runID string) (r report.Reporter, close func(), err error) {
	names := taskNames(o.pipeline)
	live := o.Output == "text" && o.Term != nil && !o.Verbose && o.dryRun == task.DryRunNone && manyUnits(o.pipeline)
	if !live && o.LogDir == "" {
		if o.Output == "json" {
			return report.NewJSON(o.Out), func() {}, nil
		}
		return report.NewText(o.Out, names), func() {}, nil
	}
	dir := o.LogDir
	if dir == "" {
		// Beside the run's work folder, which the run removes at its end:
		// the log is for reading after it.
		dir = os.TempDir()
	}
	path, err := filepath.Abs(filepath.Join(dir, "kbrun-"+runID+".log"))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	var f *os.File
	if err == nil {
		f, err = os.Create(path)
	}
	if err != nil {
		return nil, nil, exit.Usagef("--log-dir %s: %v; nothing was run", dir, err)
	}
	closeLog := func() { f.Close() }
	if live {
		units, _ := countUnits(o.pipeline.Tasks)
		fin, _ := countUnits(o.pipeline.Finally)
		return report.NewLive(o.Out, f, names, report.LiveOptions{
			Total:      units + fin,
			Containers: []string{pipeline.ParallelType, pipeline.UsesType},
			Answer:     o.pipeline.Tasks[len(o.pipeline.Tasks)-1].Name,
			LogPath:    path,
			TermFd:     o.Term.Fd(),
		}), closeLog, nil
	}
	var shown report.Reporter = report.NewText(o.Out, names)
	if o.Output == "json" {
		shown = report.NewJSON(o.Out)
	}
	fmt.Fprintf(o.Err, "kbrun: log: %s\n", path)
	return report.Multi{shown, report.NewText(f, names)}, closeLog, nil
}

// manyUnits reports whether a run of p is long enough for the live view.
func manyUnits(p *pipeline.Pipeline) bool {
	units, matrix := countUnits(append(append([]*pipeline.Task(nil), p.Tasks...), p.Finally...))
	return matrix || units >= liveMinUnits
}

// countUnits counts the tasks that do something (a group or a use only
// holds them), leaving out matrices, whose cells are known when they
// start; matrix says whether there is one.
func countUnits(ts []*pipeline.Task) (units int, matrix bool) {
	for _, t := range ts {
		switch {
		case len(t.Matrix) > 0:
			matrix = true
		case t.Type == pipeline.ParallelType || t.Type == pipeline.UsesType:
			n, m := countUnits(t.Children)
			units += n
			matrix = matrix || m
		default:
			units++
		}
	}
	return units, matrix
}
