package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Text writes live, human-readable progress: a line per task start and end,
// retries with their reason, the task's output prefixed with its name, and a
// summary table at the end.
type Text struct {
	mu    sync.Mutex
	w     io.Writer
	width int // widest task name, for aligned prefixes
	rows  []row
	start map[string]time.Time
}

type row struct {
	index, name, typ, status, reason string
	attempts                         int
	dur                              time.Duration
}

// NewText writes to w. names are all task names, to align output prefixes.
func NewText(w io.Writer, names []string) *Text {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	return &Text{w: w, width: width, start: map[string]time.Time{}}
}

// Report implements Reporter.
func (t *Text) Report(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Type {
	case RunStart:
		mode := ""
		if e.DryRun {
			mode = " (dry run: nothing is changed)"
		}
		fmt.Fprintf(t.w, "kbrun: pipeline %s, run %s%s\n", e.Pipeline, e.RunID, mode)
	case TaskPlan:
		t.plan(e)
	case TaskStart:
		t.start[e.Task] = e.Time
		fmt.Fprintf(t.w, "▶ %s %s (%s): %s\n", e.Index, e.Task, e.TaskType, e.Describe)
	case TaskOutput, TaskLog:
		fmt.Fprintf(t.w, "  %-*s | %s\n", t.width, e.Task, e.Line)
	case RequestRetry:
		fmt.Fprintf(t.w, "  %-*s | request failed (try %d), repeating: %s\n", t.width, e.Task, e.Attempt, firstLine(e.Error))
	case APIDown:
		fmt.Fprintf(t.w, "! the API server is not answering since %s (%s); requests wait for it up to their task's timeout\n", e.Time.Format("15:04:05"), firstLine(e.Error))
	case APIBack:
		fmt.Fprintf(t.w, "! the API server answers again, after %s\n", Round(time.Duration(e.DurationMS)*time.Millisecond))
	case TaskRetry:
		fmt.Fprintf(t.w, "↻ %s attempt %d of %d failed, retrying in %s: %s\n", e.Task, e.Attempt, e.MaxAttempts, time.Duration(e.WaitMS)*time.Millisecond, firstLine(e.Error))
	case TaskEnd:
		d := time.Duration(e.DurationMS) * time.Millisecond
		t.rows = append(t.rows, row{index: e.Index, name: e.Task, typ: e.TaskType, status: e.Status, reason: e.Reason, attempts: e.Attempt, dur: d})
		switch e.Status {
		case StatusOK:
			fmt.Fprintf(t.w, "✓ %s %s (%s)\n", e.Index, e.Task, Round(d))
		case StatusSkipped:
			fmt.Fprintf(t.w, "- %s %s skipped: %s\n", e.Index, e.Task, e.Reason)
		case StatusFailed:
			fmt.Fprintf(t.w, "✗ %s %s failed after %s: %s\n", e.Index, e.Task, Round(d), indent(e.Error))
		}
	case Cleanup:
		fmt.Fprintf(t.w, "! %s\n", indent(e.Reason))
	case Diagnostics:
		fmt.Fprintf(t.w, "? %s\n", e.Reason)
	case RunEnd:
		if !e.DryRun {
			t.summary()
		}
		d := time.Duration(e.DurationMS) * time.Millisecond
		if e.Error != "" {
			fmt.Fprintf(t.w, "FAILED in %s: %s\n", Round(d), indent(e.Error))
		} else if e.DryRun {
			fmt.Fprintf(t.w, "Plan OK: nothing was run.\n")
		} else {
			fmt.Fprintf(t.w, "PASSED in %s\n", Round(d))
		}
	}
}

func (t *Text) plan(e Event) {
	pad := strings.Repeat("   ", strings.Count(e.Index, "."))
	fmt.Fprintf(t.w, "%s%s. %s (%s)", pad, e.Index, e.Task, e.TaskType)
	if e.Reason != "" {
		fmt.Fprintf(t.w, " [%s]", e.Reason)
	}
	fmt.Fprintln(t.w)
	if e.Describe != "" {
		fmt.Fprintf(t.w, "%s    %s\n", pad, e.Describe)
	}
	if e.Params != nil {
		for _, l := range strings.Split(strings.TrimRight(ParamsYAML(e.Params), "\n"), "\n") {
			fmt.Fprintf(t.w, "%s      %s\n", pad, l)
		}
	}
	for _, m := range e.Manifests {
		for _, l := range strings.Split(strings.TrimRight(m, "\n"), "\n") {
			fmt.Fprintf(t.w, "%s      | %s\n", pad, l)
		}
	}
	for _, c := range e.Changes {
		line := c.Action + " " + c.Object
		if len(c.Fields) > 0 {
			line += ": " + strings.Join(c.Fields, ", ")
		}
		if c.Note != "" {
			line += " (" + c.Note + ")"
		}
		fmt.Fprintf(t.w, "%s    server dry run: %s\n", pad, line)
	}
	if e.Status == StatusFailed {
		fmt.Fprintf(t.w, "%s    ✗ %s\n", pad, indent(e.Error))
	}
}

func (t *Text) summary() {
	if len(t.rows) == 0 {
		return
	}
	sort.SliceStable(t.rows, func(i, j int) bool { return indexLess(t.rows[i].index, t.rows[j].index) })
	fmt.Fprintln(t.w)
	tw := tabwriter.NewWriter(t.w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTASK\tTYPE\tSTATUS\tATTEMPTS\tDURATION\t")
	for _, r := range t.rows {
		att := "-"
		if r.attempts > 0 {
			att = fmt.Sprint(r.attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.index, r.name, r.typ, r.status, att, Round(r.dur))
	}
	tw.Flush()
}

// indexLess orders plan indexes: 1 < 2 < 2.1 < 2.2 < 10 < F1.
func indexLess(a, b string) bool {
	fa, fb := strings.HasPrefix(a, "F"), strings.HasPrefix(b, "F")
	if fa != fb {
		return fb
	}
	pa := strings.Split(strings.TrimPrefix(a, "F"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "F"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, _ := strconv.Atoi(pa[i])
		nb, _ := strconv.Atoi(pb[i])
		if na != nb {
			return na < nb
		}
	}
	return len(pa) < len(pb)
}

// Round shortens d for people: to 100 ms from a second up, else to the
// millisecond.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
