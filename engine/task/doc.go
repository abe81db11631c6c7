package task

import (
	"fmt"
	"strings"
)

// MarkdownTable is the table of task types in docs/tasks.md (`kbrun tasks
// -o markdown`): each type's summary and its outputs, so that the page
// cannot drift from what the types publish.
func MarkdownTable(types []Type) string {
	var b strings.Builder
	b.WriteString("| type | what it does | outputs |\n|---|---|---|\n")
	for _, t := range types {
		outs := make([]string, 0, len(t.Outputs())+1)
		for _, o := range t.Outputs() {
			outs = append(outs, "`"+o+"`")
		}
		if _, ok := t.(ParamOutputs); ok {
			outs = append(outs, "the named groups of its patterns")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", t.Name(), escapeCell(t.Summary()), JoinAnd(outs))
	}
	return b.String()
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
