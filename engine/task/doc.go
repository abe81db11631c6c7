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

// CommonFields says, after `kbrun tasks`' list, what every task takes
// besides its type's parameters.
const CommonFields = `every task also takes: name, description, timeout, retry, when, continueOnError, matrix (with maxParallel and until), and
    diagnose: what to collect besides the default when the run fails (resources: kind with name or selector, and
    namespace, dumped as YAML; commands: pod or selector, container, command, timeout, run in a pod)`

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
