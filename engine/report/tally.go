package report

import (
	"strings"
	"time"
)

// keepLines bounds the lines kept in memory per task for showing a failure;
// the log file has them all.
const keepLines = 200

// tally counts a run's progress from its events, for the live view. Its
// units are what a person counts: tasks that do something and matrix cells
// (a cell's own steps belong to it); parallel groups, uses and matrix tasks
// only hold units.
type tally struct {
	containers map[string]bool // task types that hold tasks
	total      int             // units known to come
	matrices   map[string]bool // indexes of matrix tasks that started
	unitOf     map[string]string
	names      map[string]string // unit index -> name
	running    map[string]time.Time
	lines      map[string]*tail
	failed     []string // unit indexes, in the order they failed

	done, nFailed, skipped int
}

// tail is the last keepLines lines of a unit, and how many came before.
type tail struct {
	lines   []string
	dropped int
}

func (t *tail) add(l string) {
	if len(t.lines) == keepLines {
		t.lines = t.lines[1:]
		t.dropped++
	}
	t.lines = append(t.lines, l)
}

func newTally(total int, containers []string) *tally {
	c := map[string]bool{}
	for _, s := range containers {
		c[s] = true
	}
	return &tally{containers: c, total: total, matrices: map[string]bool{}, unitOf: map[string]string{},
		names: map[string]string{}, running: map[string]time.Time{}, lines: map[string]*tail{}}
}

// unit returns the index of the unit an event of the task at index with
// type typ belongs to ("" for none: a container), and whether it is that
// unit itself.
func (t *tally) unit(index, typ string) (string, bool) {
	parts := strings.Split(index, ".")
	// The shallowest cell above (or at) index is the unit.
	for i := 2; i <= len(parts); i++ {
		if t.matrices[strings.Join(parts[:i-1], ".")] {
			u := strings.Join(parts[:i], ".")
			return u, u == index
		}
	}
	if t.containers[typ] {
		return "", false
	}
	return index, true
}

func (t *tally) start(e Event) {
	if e.Cells > 0 {
		t.matrices[e.Index] = true
		t.total += e.Cells
		return
	}
	u, self := t.unit(e.Index, e.TaskType)
	t.unitOf[e.Task] = u
	if self {
		t.names[u] = e.Task
		t.running[u] = e.Time
	}
}

// end counts a task that ended; it reports whether it was a unit.
func (t *tally) end(e Event) bool {
	if t.matrices[e.Index] {
		return false
	}
	u, self := t.unit(e.Index, e.TaskType)
	if !self {
		return false
	}
	t.names[u] = e.Task
	delete(t.running, u)
	switch e.Status {
	case StatusFailed:
		t.nFailed++
		t.failed = append(t.failed, u)
	case StatusSkipped:
		t.skipped++
	default:
		t.done++
	}
	// A task that fails before its matrix starts was not foreseen.
	t.total = max(t.total, t.ended()+len(t.running))
	return true
}

func (t *tally) ended() int { return t.done + t.nFailed + t.skipped }

// line keeps a line of a task's output with its unit.
func (t *tally) line(task, l string) {
	u := t.unitOf[task]
	if u == "" {
		return
	}
	if t.lines[u] == nil {
		t.lines[u] = &tail{}
	}
	t.lines[u].add(l)
}

// slowest is the unit running longest.
func (t *tally) slowest() (name string, since time.Time) {
	for u, at := range t.running {
		if name == "" || at.Before(since) || at.Equal(since) && t.names[u] < name {
			name, since = t.names[u], at
		}
	}
	return name, since
}
