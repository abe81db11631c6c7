package task

import "strings"

// List returns v, or an empty list when v is nil, so that a list output is
// [] rather than null in events, reports and templates.
func List(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// JoinAnd joins parts as a sentence does: "a, b and c".
func JoinAnd(parts []string) string { return joinLast(parts, " and ") }

// JoinOr joins parts as a sentence does: "a, b or c".
func JoinOr(parts []string) string { return joinLast(parts, " or ") }

func joinLast(parts []string, last string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + last + parts[len(parts)-1]
}
