package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Error is one problem with a pipeline file, at a place in it.
type Error struct {
	File string
	Pos  Pos
	// Path is the instance path of the field, e.g. tasks/2/exec/command.
	Path []string
	Msg  string
}

// Error renders FILE:LINE:COL: field path: message.
func (e *Error) Error() string {
	field := FieldPath(e.Path)
	if field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Pos.Line, e.Pos.Col, field, e.Msg)
}

// FieldPath renders an instance path as a field path: tasks[2].exec.command.
func FieldPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Errors are all the problems found in a pipeline, sorted by file and
// position when listed. The same problem found twice (in two cells of a
// matrix) is kept once.
type Errors struct {
	errs []*Error
	seen map[string]bool
	// files are the files in the order they were read, for List.
	files []string
}

// Reading records that file is read now: its problems are listed after
// those of the files read before it (a pipeline's, then its libraries').
func (e *Errors) Reading(file string) {
	for _, f := range e.files {
		if f == file {
			return
		}
	}
	e.files = append(e.files, file)
}

// Add records a problem.
func (e *Errors) Add(err *Error) {
	key := err.Error()
	if e.seen[key] {
		return
	}
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	e.seen[key] = true
	e.errs = append(e.errs, err)
}

// AddAll records the problems of o, its files read after e's.
func (e *Errors) AddAll(o *Errors) {
	for _, f := range o.files {
		e.Reading(f)
	}
	for _, x := range o.errs {
		e.Add(x)
	}
}

// Len is the number of problems.
func (e *Errors) Len() int { return len(e.errs) }

// List returns the problems sorted by file, line and column (the pipeline
// file's own problems first, in the order files were named).
func (e *Errors) List() []*Error {
	out := append([]*Error(nil), e.errs...)
	order := map[string]int{}
	for _, f := range e.files {
		order[f] = len(order)
	}
	for _, x := range e.errs {
		if _, ok := order[x.File]; !ok {
			order[x.File] = len(order)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return order[out[i].File] < order[out[j].File]
		}
		if out[i].Pos.Line != out[j].Pos.Line {
			return out[i].Pos.Line < out[j].Pos.Line
		}
		return out[i].Pos.Col < out[j].Pos.Col
	})
	return out
}

// Error lists every problem, one per line.
func (e *Errors) Error() string {
	var m *multierror.Error
	for _, x := range e.List() {
		m = multierror.Append(m, x)
	}
	if m == nil {
		return ""
	}
	m.ErrorFormat = func(es []error) string {
		lines := make([]string, len(es))
		for i, err := range es {
			lines[i] = err.Error()
		}
		return strings.Join(lines, "\n")
	}
	return m.Error()
}

// Unwrap exposes the individual problems to errors.Is/As.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.errs))
	for i, err := range e.errs {
		out[i] = err
	}
	return out
}

// OrNil returns e, or nil when it holds no problem.
func (e *Errors) OrNil() error {
	if e == nil || len(e.errs) == 0 {
		return nil
	}
	return e
}
