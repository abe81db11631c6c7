package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// LiveOptions describe the run a live view follows.
type LiveOptions struct {
	// Total is the number of units (tasks that do something) the pipeline
	// has before its matrices start; each matrix adds its cells when it
	// starts.
	Total int
	// Containers are the task types that hold tasks (groups, uses).
	Containers []string
	// Answer names the pipeline's last task: when it passes, its output is
	// what the run was for (a matrix, a verdict), printed after the view.
	Answer string
	// LogPath is the log file's path, named in the view.
	LogPath string
	// TermFd is the terminal's file descriptor, for its width.
	TermFd uintptr
}

// Live is the view of a run in a terminal: one line above a progress bar
// per top-level task and per failure, the counts of units done, running
// and failed, and the slowest unit running. Every event also goes, as Text
// writes it, to the log; after the run, the view prints the answer, the
// lines of the failed units when the run failed, and how it ended.
type Live struct {
	mu     sync.Mutex
	out    io.Writer
	log    *Text
	opts   LiveOptions
	tally  *tally
	answer []string
	p      *mpb.Progress
	bar    *mpb.Bar

	// The bar's decorators read only this, under its own lock: Report
	// holds mu while it waits for mpb, which may be drawing them.
	viewMu sync.Mutex
	view   liveState
}

type liveState struct {
	done, running, failed, skipped int
	slowest                        string
	since                          time.Time
}

// NewLive draws on out, a terminal, and writes the full text to log. names
// are all task names, to align the log's prefixes.
func NewLive(out, log io.Writer, names []string, opts LiveOptions) *Live {
	return &Live{out: out, log: NewText(log, names), opts: opts, tally: newTally(opts.Total, opts.Containers)}
}

// Report implements Reporter.
func (l *Live) Report(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.Report(e)
	t := l.tally
	switch e.Type {
	case RunStart:
		fmt.Fprintf(l.out, "kbrun: pipeline %s, run %s\nlog: %s (every task's lines; -v shows them here)\n", e.Pipeline, e.RunID, l.opts.LogPath)
		l.start()
	case TaskStart:
		t.start(e)
	case TaskOutput, TaskLog:
		t.line(e.Task, fmt.Sprintf("  %s | %s", e.Task, e.Line))
		if e.Task == l.opts.Answer && e.Type == TaskOutput {
			l.answer = append(l.answer, e.Line)
		}
	case RequestRetry:
		t.line(e.Task, fmt.Sprintf("  %s | request failed (try %d), repeating: %s", e.Task, e.Attempt, firstLine(e.Error)))
	case TaskRetry:
		l.above("↻ %s attempt %d of %d failed, retrying in %s: %s\n", e.Task, e.Attempt, e.MaxAttempts, time.Duration(e.WaitMS)*time.Millisecond, firstLine(e.Error))
	case APIDown:
		l.above("! the API server is not answering since %s (%s)\n", e.Time.Format("15:04:05"), firstLine(e.Error))
	case APIBack:
		l.above("! the API server answers again, after %s\n", Round(time.Duration(e.DurationMS)*time.Millisecond))
	case Cleanup:
		l.above("! %s\n", indent(e.Reason))
	case Diagnostics:
		l.above("? %s\n", e.Reason)
	case TaskEnd:
		unit := t.end(e)
		l.ended(e, unit)
	case RunEnd:
		l.finish(e)
		return
	}
	l.update()
}

// start shows the bar.
func (l *Live) start() {
	cw := cupwriter.New(l.out, true)
	cw.SetTermFd(int(l.opts.TermFd))
	l.p = mpb.New(mpb.WithConsoleWriter(sized{cw}), mpb.WithAutoRefresh(), mpb.WithRefreshRate(100*time.Millisecond))
	// Total 0: the bar completes only when the run ends, as matrices
	// add their cells on the way.
	l.bar = l.p.AddBar(0,
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return l.counts() }, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.CountersNoUnit("%d/%d", decor.WCSyncSpace), decor.Any(func(decor.Statistics) string { return l.slowest() })),
	)
}

// ended shows a top-level task's end and any unit's failure above the bar.
func (l *Live) ended(e Event, unit bool) {
	d := Round(time.Duration(e.DurationMS) * time.Millisecond)
	switch {
	case e.Status == StatusFailed && (unit || !strings.Contains(e.Index, ".")):
		l.above("✗ %s %s failed after %s: %s\n", e.Index, e.Task, d, firstLine(e.Error))
	case strings.Contains(e.Index, "."):
	case e.Status == StatusOK && e.Reason != "":
		l.above("✓ %s %s (%s): %s\n", e.Index, e.Task, d, e.Reason)
	case e.Status == StatusOK:
		l.above("✓ %s %s (%s)\n", e.Index, e.Task, d)
	case e.Status == StatusSkipped:
		l.above("- %s %s skipped: %s\n", e.Index, e.Task, e.Reason)
	}
}

// above prints a line above the bar (or as it is, with no bar).
func (l *Live) above(format string, args ...any) {
	if l.p == nil {
		fmt.Fprintf(l.out, format, args...)
		return
	}
	fmt.Fprintf(l.p, format, args...)
}

// update hands the counts to the bar.
func (l *Live) update() {
	t := l.tally
	name, since := t.slowest()
	l.viewMu.Lock()
	l.view = liveState{done: t.done, running: len(t.running), failed: t.nFailed, skipped: t.skipped, slowest: name, since: since}
	l.viewMu.Unlock()
	if l.bar != nil {
		l.bar.SetTotal(int64(t.total), false)
		l.bar.SetCurrent(int64(t.ended()))
	}
}

func (l *Live) counts() string {
	l.viewMu.Lock()
	defer l.viewMu.Unlock()
	v := l.view
	s := fmt.Sprintf("%d done, %d running, %d failed", v.done, v.running, v.failed)
	if v.skipped > 0 {
		s += fmt.Sprintf(", %d skipped", v.skipped)
	}
	return s
}

func (l *Live) slowest() string {
	l.viewMu.Lock()
	defer l.viewMu.Unlock()
	if l.view.slowest == "" {
		return ""
	}
	return fmt.Sprintf("  slowest: %s (%s)", l.view.slowest, time.Since(l.view.since).Round(time.Second))
}

// finish ends the view and prints the answer, the failures' lines and
// how the run ended.
func (l *Live) finish(e Event) {
	t := l.tally
	if l.bar != nil {
		l.update()
		if len(t.running) == 0 && t.ended() == t.total {
			l.bar.SetTotal(-1, true)
		} else {
			l.bar.Abort(false) // stopped: the bar stays as it was
		}
		l.p.Wait()
		l.p, l.bar = nil, nil // a late note (the API server back) prints as it is
	}
	if len(l.answer) > 0 {
		fmt.Fprintln(l.out)
		for _, a := range l.answer {
			fmt.Fprintln(l.out, a)
		}
	}
	if e.Error != "" {
		for _, u := range t.failed {
			lines := t.lines[u]
			if lines == nil || len(l.answer) > 0 && t.names[u] == l.opts.Answer {
				continue
			}
			fmt.Fprintf(l.out, "\nthe lines of %s, which failed:\n", t.names[u])
			if lines.dropped > 0 {
				fmt.Fprintf(l.out, "  … %d earlier lines in %s\n", lines.dropped, l.opts.LogPath)
			}
			fmt.Fprintln(l.out, strings.Join(lines.lines, "\n"))
		}
	}
	d := Round(time.Duration(e.DurationMS) * time.Millisecond)
	fmt.Fprintln(l.out)
	if e.Error != "" {
		fmt.Fprintf(l.out, "FAILED in %s: %s\n", d, indent(e.Error))
	} else {
		fmt.Fprintf(l.out, "PASSED in %s\n", d)
	}
	fmt.Fprintf(l.out, "log: %s\n", l.opts.LogPath)
}

// sized is a terminal that reports a size: one that says 0 rows or columns
// (a serial console, a pty nobody sized) would get no bar at all from mpb.
type sized struct{ *cupwriter.Writer }

func (s sized) GetTermSize() (width, height int, err error) {
	width, height, err = s.Writer.GetTermSize()
	if width <= 0 {
		width = 80
	}
	if height <= 0 {
		height = 24
	}
	return width, height, err
}
