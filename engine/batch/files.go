package batch

import (
	"os"

	"github.com/kbrun/kbrun/engine/report"
)

// JUnits are the testsuites of results, in order, for one JUnit file.
func JUnits(results []Result) []*report.JUnit {
	out := make([]*report.JUnit, len(results))
	for i, r := range results {
		out[i] = r.JUnit
	}
	return out
}

// WriteSummaryFile writes the Markdown summary to path; appendTo adds it
// to what is there, as a CI page's file ($GITHUB_STEP_SUMMARY) wants.
func WriteSummaryFile(path string, appendTo bool, results []Result) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	err = WriteMarkdown(f, results)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
