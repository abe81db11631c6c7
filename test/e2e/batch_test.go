//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/test/otlpsink"
)

// quick are the gallery pipelines labelled gallery=quick: the three of
// examples/ that need no values (the folder's others are not selected,
// and so need none either).
var quick = []string{"blue-green", "canary", "db-migration"}

// runsOf reads the run.start and run.end events of JSON lines, by
// pipeline; batch: several ran, so every event must name its pipeline.
func runsOf(t *testing.T, stdout string, batch bool) (starts, ends map[string]time.Time, codes map[string]int) {
	t.Helper()
	starts, ends, codes = map[string]time.Time{}, map[string]time.Time{}, map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			Time     time.Time `json:"time"`
			Type     string    `json:"type"`
			Pipeline string    `json:"pipeline"`
			ExitCode *int      `json:"exitCode"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if batch && e.Pipeline == "" {
			t.Errorf("an event without its pipeline: %s", sc.Text())
		}
		switch e.Type {
		case "run.start":
			starts[e.Pipeline] = e.Time
		case "run.end":
			ends[e.Pipeline] = e.Time
			if e.ExitCode != nil {
				codes[e.Pipeline] = *e.ExitCode
			}
		}
	}
	return starts, ends, codes
}

func keys(m map[string]time.Time) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestManyPipelines runs a folder's pipelines at once on the cluster: all
// pass, at the same time; one JUnit file with a suite per pipeline; the
// Markdown summary in $GITHUB_STEP_SUMMARY. Then --rerun-failed on a
// report where one failed runs exactly that one.
func TestManyPipelines(t *testing.T) {
	dir := t.TempDir()
	junit, summary := filepath.Join(dir, "report.xml"), filepath.Join(dir, "summary.md")
	sink := otlpsink.New(t)
	r := kbrunEnv(t, []string{"GITHUB_STEP_SUMMARY=" + summary, "OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL},
		"run", "examples", "-l", "gallery=quick", "--parallel", "3", "-o", "json", "--junit", junit)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.summary())
	}
	starts, ends, codes := runsOf(t, r.stdout, true)
	if keys(starts) != strings.Join(quick, ",") || keys(ends) != strings.Join(quick, ",") {
		t.Fatalf("pipelines started %s, ended %s; want %v", keys(starts), keys(ends), quick)
	}
	var lastStart, firstEnd time.Time
	for _, p := range quick {
		if codes[p] != 0 {
			t.Errorf("%s: exit %d", p, codes[p])
		}
		if starts[p].After(lastStart) {
			lastStart = starts[p]
		}
		if firstEnd.IsZero() || ends[p].Before(firstEnd) {
			firstEnd = ends[p]
		}
	}
	if !lastStart.Before(firstEnd) {
		t.Errorf("with --parallel 3 the last pipeline started (%s) after the first ended (%s)", lastStart, firstEnd)
	}
	if !strings.Contains(r.stderr, "PASSED: 3 pipelines") {
		t.Errorf("no summary table on stderr:\n%s", r.stderr)
	}

	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Suites  []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", junit, err)
	}
	var suites []string
	for _, s := range doc.Suites {
		suites = append(suites, s.Name)
		if s.Tests == 0 || s.Failures != 0 {
			t.Errorf("suite %s: %d tests, %d failures", s.Name, s.Tests, s.Failures)
		}
	}
	sort.Strings(suites)
	if doc.XMLName.Local != "testsuites" || strings.Join(suites, ",") != strings.Join(quick, ",") {
		t.Errorf("JUnit <%s> with suites %v, want <testsuites> with %v", doc.XMLName.Local, suites, quick)
	}

	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### kbrun: PASSED: 3 pipelines", "| blue-green | ✅ passed |", "| canary | ✅ passed |", "| db-migration | ✅ passed |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	for _, p := range quick {
		namespaceGone(t, "ex-"+p)
	}

	// The trace: one root for the process, a pipeline span under it for
	// each pipeline, each with its tasks.
	spans := sink.Spans()
	var roots, pipelines []otlpsink.Span
	for _, sp := range spans {
		if sp.Parent == "" {
			roots = append(roots, sp)
		}
	}
	if len(roots) != 1 {
		t.Fatalf("%d root spans, want 1 (one run):\n%s", len(roots), otlpsink.Tree(spans))
	}
	tasks := map[string]int{}
	for _, sp := range spans {
		if sp.Parent == roots[0].ID && strings.HasPrefix(sp.Name, "pipeline ") {
			pipelines = append(pipelines, sp)
		}
	}
	for _, sp := range spans {
		for _, p := range pipelines {
			if sp.Parent == p.ID && strings.HasPrefix(sp.Name, "task ") {
				tasks[p.Name]++
			}
		}
	}
	var names []string
	for _, p := range pipelines {
		names = append(names, strings.TrimPrefix(p.Name, "pipeline "))
		if p.Status != "Ok" || tasks[p.Name] == 0 {
			t.Errorf("span %s: status %s, %d task spans", p.Name, p.Status, tasks[p.Name])
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != strings.Join(quick, ",") {
		t.Errorf("pipeline spans %v under the run's root, want %v:\n%s", names, quick, otlpsink.Tree(spans))
	}

	// A report of the same three where canary failed: only canary runs.
	report := filepath.Join(dir, "failed.jsonl")
	lines := `{"type":"run.start","pipeline":"blue-green"}
{"type":"run.start","pipeline":"canary"}
{"type":"run.start","pipeline":"db-migration"}
{"type":"run.end","pipeline":"blue-green","exitCode":0}
{"type":"run.end","pipeline":"canary","exitCode":1,"error":"task \"check\" failed"}
{"type":"run.end","pipeline":"db-migration","exitCode":0}
`
	if err := os.WriteFile(report, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	r = kbrun(t, "run", "examples", "-l", "gallery=quick", "--parallel", "3", "-o", "json", "--rerun-failed", report)
	if r.code != 0 {
		t.Fatalf("--rerun-failed: exit %d, want 0\n%s", r.code, r.summary())
	}
	// One pipeline left: it runs as a file named alone does.
	if starts, _, _ := runsOf(t, r.stdout, false); keys(starts) != "canary" {
		t.Errorf("--rerun-failed ran %s, want canary only", keys(starts))
	}
	namespaceGone(t, "ex-canary")
}
