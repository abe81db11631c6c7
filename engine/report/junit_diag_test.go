package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestJUnitLinksDiagnostics: the diagnostics folder, known after the
// failed testcases ended, is named in each failure and its system-out,
// not in a case that passed.
func TestJUnitLinksDiagnostics(t *testing.T) {
	j := NewJUnit()
	j.Report(Event{Time: t0, Type: RunStart, Pipeline: "demo"})
	j.Report(end("build", "compile", "1", StatusOK, "", 10))
	j.Report(end("rollout", "deploy", "2", StatusFailed, "timed out", 20))
	j.Report(Event{Type: Diagnostics, Reason: "diagnostics of the failed run", Diagnostics: "/ci/kbrun-diagnostics/r1"})
	j.Report(Event{Type: RunEnd, DurationMS: 30})
	var b bytes.Buffer
	if err := j.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "timed out&#xA;&#xA;diagnostics: /ci/kbrun-diagnostics/r1</failure>") {
		t.Errorf("the failure does not name the folder:\n%s", out)
	}
	if !strings.Contains(out, "<system-out>diagnostics: /ci/kbrun-diagnostics/r1&#xA;</system-out>") {
		t.Errorf("the failed case's system-out does not name the folder:\n%s", out)
	}
	if strings.Count(out, "diagnostics: ") != 2 {
		t.Errorf("the folder is named outside the failed case:\n%s", out)
	}
}
