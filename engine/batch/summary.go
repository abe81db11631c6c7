package batch

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the summary table of a batch and its verdict line.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPIPELINE\tRESULT\tDURATION\tFAILED TASK\tCAUSE\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Status, duration(r), dash(r.FailedTask), dash(r.Cause))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, Verdict(results))
	return err
}

// Verdict is the batch in one line: "PASSED: 3 pipelines" or
// "FAILED: 1 of 3 pipelines failed, 1 not run".
func Verdict(results []Result) string {
	var failed, notRun int
	for _, r := range results {
		switch r.Status {
		case Failed:
			failed++
		case NotRun:
			notRun++
		}
	}
	if failed == 0 && notRun == 0 {
		return fmt.Sprintf("PASSED: %d pipelines", len(results))
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d pipelines failed", failed, len(results)))
	}
	if notRun > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", notRun))
	}
	return "FAILED: " + strings.Join(parts, ", ")
}

// WriteMarkdown writes the GitHub-flavoured Markdown summary a CI page
// shows ($GITHUB_STEP_SUMMARY): the verdict, then a table with a row per
// pipeline; the diagnostics column only when a run left diagnostics.
func WriteMarkdown(w io.Writer, results []Result) error {
	diag := false
	for _, r := range results {
		diag = diag || r.Diagnostics != ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### kbrun: %s\n\n", Verdict(results))
	b.WriteString("| pipeline | result | duration | failed task | cause |")
	if diag {
		b.WriteString(" diagnostics |")
	}
	b.WriteString("\n|---|---|---|---|---|")
	if diag {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	icon := map[string]string{Passed: "✅", Failed: "❌", NotRun: "⏭️"}
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s |", cell(r.Name), icon[r.Status], r.Status, duration(r), code(r.FailedTask), cell(r.Cause))
		if diag {
			fmt.Fprintf(&b, " %s |", code(r.Diagnostics))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String()+"\n")
	return err
}

func duration(r Result) string {
	if r.Status == NotRun {
		return "-"
	}
	switch d := r.Duration; {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes text safe in a Markdown table cell: one line, its pipes
// escaped, nothing it holds read as HTML.
func cell(s string) string {
	s = strings.ReplaceAll(oneLine(s), "|", `\|`)
	return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s)
}

// code shows a name or path as code; an empty one as nothing.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(cell(s), "`", "'") + "`"
}
