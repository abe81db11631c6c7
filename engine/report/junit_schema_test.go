package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/report"
)

// suite feeds a JUnit collector a run: one task passes with output, one
// fails, one is skipped.
func suite(name string, fail bool) *report.JUnit {
	j := report.NewJUnit()
	now := time.Now()
	j.Report(report.Event{Time: now, Type: report.RunStart, Pipeline: name})
	j.Report(report.Event{Type: report.TaskOutput, Task: "build", Line: "<built> & done"})
	j.Report(report.Event{Type: report.TaskEnd, Task: "build", TaskType: "run", Status: report.StatusOK, DurationMS: 1200})
	end := report.Event{Type: report.RunEnd, DurationMS: 1500}
	if fail {
		j.Report(report.Event{Type: report.TaskEnd, Task: "check", TaskType: "run", Status: report.StatusFailed, Error: "exit code 3\nmore"})
		end.Error = `task "check" failed`
	}
	j.Report(report.Event{Type: report.TaskEnd, Task: "later", TaskType: "run", Status: report.StatusSkipped, Reason: "when is false"})
	j.Report(end)
	return j
}

func TestJUnitMatchesTheSchema(t *testing.T) {
	schema := loadXSD(t, "testdata/junit.xsd")
	var one, many bytes.Buffer
	if err := suite("solo", false).Write(&one); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteJUnits(&many, suite("a", false), suite("b", true), report.NewJUnit()); err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"one pipeline": one.String(), "a batch": many.String()} {
		if err := schema.validate([]byte(doc)); err != nil {
			t.Errorf("%s: %v\n%s", name, err, doc)
		}
	}
	if n := strings.Count(many.String(), "<testsuite "); n != 3 {
		t.Errorf("%d testsuites, want 3:\n%s", n, many.String())
	}
	if !strings.Contains(many.String(), `<testsuite name="b" tests="3" failures="1" skipped="1"`) {
		t.Errorf("suite b's counts are wrong:\n%s", many.String())
	}
}

// The check above can fail: documents Jenkins would refuse are refused.
func TestSchemaCheckRefuses(t *testing.T) {
	schema := loadXSD(t, "testdata/junit.xsd")
	for doc, want := range map[string]string{
		`<testsuites><testsuite tests="1"><testcase/></testsuite></testsuites>`:                      `attribute "name" is required`,
		`<testsuites><testsuite name="a"/></testsuites>`:                                             `attribute "tests" is required`,
		`<testsuites><testcase name="x"/></testsuites>`:                                              "do not match the content model",
		`<testsuites><testsuite tests="1"><testcase name="x" result="ok"/></testsuite></testsuites>`: `attribute "result" is not in the schema`,
		`<testsuites>loose text</testsuites>`:                                                        "text is not allowed",
		`<report/>`:                                                                                  `no element "report"`,
		`<testsuites><testsuite tests="1"><system-out a="b"/></testsuite></testsuites>`:              "text only",
	} {
		err := schema.validate([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", doc, err, want)
		}
	}
}
