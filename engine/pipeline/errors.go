package pipeline

import (
	"fmt"
	"strings"
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
