package app

import (
	"fmt"
	"io"

	"github.com/kbrun/kbrun/engine/runner"
)

// given are the values given on the command line, for runner.Values.
func (o *RunOptions) given() runner.Given {
	return runner.Given{Files: o.ValuesFiles, Sets: o.Sets, SetFiles: o.SetFiles}
}

// printProblems writes every problem of a pipeline and of the values
// given for it on its own line (the values' first, at most
// MaxShownProblems) and the summary line.
func printProblems(w io.Writer, file string, p *runner.Problems) {
	lines := p.Lines()
	for i, l := range lines {
		if i == MaxShownProblems {
			fmt.Fprintf(w, "... and %d more problems\n", len(lines)-i)
			break
		}
		fmt.Fprintln(w, l)
	}
	if p.Errs.Len() == 0 && len(p.Values) > 0 {
		fmt.Fprintf(w, "%s: %s in the values given; nothing was run\n", file, plural(len(lines), "problem"))
		return
	}
	fmt.Fprintf(w, "%s: %s found; nothing was run\n", file, plural(len(lines), "problem"))
}
