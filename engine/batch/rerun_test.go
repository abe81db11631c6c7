package batch_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/report"
)

// The reports --rerun-failed reads are the ones a batch writes: its JSON
// lines and its JUnit file; from either, exactly the failed pipelines.
func TestFailedInTheBatchsOwnReports(t *testing.T) {
	var jsonOut bytes.Buffer
	fail := map[string]bool{"b": true, "d": true}
	results := batch.Run(t.Context(), jobs("a", "b", "c", "d"), batch.Options{Parallel: 2, JSON: true, Out: &jsonOut, Run: fake(fail, 2)})
	var suites []*report.JUnit
	for _, r := range results {
		suites = append(suites, r.JUnit)
	}
	var junit bytes.Buffer
	if err := report.WriteJUnits(&junit, suites...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{"report.jsonl": jsonOut.Bytes(), "report.xml": junit.Bytes()} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := batch.FailedIn(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// In the report's order: with two at a time, the order in which
		// they ended (each pipeline's lines are written together).
		slices.Sort(got)
		if strings.Join(got, ",") != "b,d" {
			t.Errorf("%s: failed %v, want b and d", name, got)
		}
	}
	// Every JSON line names its pipeline.
	for _, l := range strings.Split(strings.TrimSpace(jsonOut.String()), "\n") {
		if !strings.Contains(l, `"pipeline":"`) {
			t.Errorf("a JSON line without its pipeline: %s", l)
		}
	}
}

func TestFailedIn(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, err string
	}{
		{"killed.jsonl", `{"type":"run.start","pipeline":"a"}` + "\n" + `{"type":"run.start","pipeline":"b"}` + "\n" + `{"type":"run.end","pipeline":"b","exitCode":0}`, "a", ""},
		{"single.xml", `<testsuite name="solo" tests="1" failures="0" errors="1"></testsuite>`, "solo", ""},
		{"none.xml", `<testsuites><testsuite name="a" tests="1"><testcase name="t"/></testsuite></testsuites>`, "", ""},
		{"values.yaml", "who: world\n", "", "neither a JUnit XML report (--junit) nor kbrun's JSON lines (-o json)"},
		{"other.xml", "<html></html>", "", "not a JUnit XML report: its root is <html>"},
		{"broken.xml", "<testsuites>", "", "not a JUnit XML report: XML syntax error"},
		{"missing", "", "", "no such file"},
	} {
		path := filepath.Join(dir, tc.name)
		if tc.name != "missing" {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := batch.FailedIn(path)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: error %v, want one naming the file and %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case strings.Join(got, ",") != tc.want:
			t.Errorf("%s: failed %v, want %q", tc.name, got, tc.want)
		}
	}
}
