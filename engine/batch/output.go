package batch

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/report"
)

// lockedWriter is the one stdout that pipelines running at once share:
// each Write is whole lines, so that lines never interleave mid-line.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter prefixes each line of one pipeline with its name and hands
// complete lines on; a line's parts written apart are joined first.
type lineWriter struct {
	out    io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	end := bytes.LastIndexByte(l.buf, '\n')
	if end < 0 {
		return len(p), nil
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(l.buf[:end+1]), "\n") {
		if line != "" {
			b.WriteString(l.prefix + line)
		}
	}
	l.buf = append(l.buf[:0], l.buf[end+1:]...)
	_, err := l.out.Write(b.Bytes())
	return len(p), err
}

// flush writes what is left of a last line without its newline.
func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_, _ = l.Write([]byte("\n"))
	}
}

// named stamps each event with its pipeline's name, so that the JSON
// lines of pipelines run at once can be told apart (and --rerun-failed
// can read them back).
func named(name string, r report.Reporter) report.Reporter {
	return report.Func(func(e report.Event) {
		if e.Pipeline == "" {
			e.Pipeline = name
		}
		r.Report(e)
	})
}

// Tracker keeps what the summary needs from one pipeline's events, which
// reach it masked (report.Masked): the errors of the tasks that failed and
// the run's duration.
type Tracker struct {
	mu     sync.Mutex
	first  string
	errs   map[string]string
	dur    time.Duration
	ended  bool
	runErr string
}

// Report implements report.Reporter.
func (c *Tracker) Report(e report.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case e.Type == report.TaskEnd && e.Status == report.StatusFailed:
		if c.errs == nil {
			c.errs = map[string]string{}
			c.first = e.Task
		}
		c.errs[e.Task] = e.Error
	case e.Type == report.RunEnd:
		c.dur, c.ended, c.runErr = time.Duration(e.DurationMS)*time.Millisecond, true, e.Error
	}
}

func (c *Tracker) duration() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dur, c.ended
}

func (c *Tracker) firstFailed() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// cause is the failed task's error, or the first failed task's, or the
// run's, as the events said them (masked); "" when they said none.
func (c *Tracker) cause(task string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg, ok := c.errs[task]; ok && task != "" {
		return oneLine(msg)
	}
	if c.first != "" {
		return oneLine(c.errs[c.first])
	}
	return oneLine(c.runErr)
}

// MaxCause bounds a cause in the summaries, in characters: a command's
// last output can be long, and the run's own report has all of it.
const MaxCause = 300

// oneLine puts an error on one line, for a table cell: its lines (a
// command's last output, indented) joined by spaces, cut at MaxCause.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > MaxCause {
		return string(r[:MaxCause]) + " …"
	}
	return s
}
