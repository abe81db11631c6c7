package app_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A folder of pipelines: lines under each pipeline's name, the summary
// table, exit 1 for the one that failed (its finally still ran), one JUnit
// file with a suite per pipeline, the Markdown summary, secrets masked.
func TestRunFolder(t *testing.T) {
	dir := t.TempDir()
	junit, summary := filepath.Join(dir, "report.xml"), filepath.Join(dir, "summary.md")
	code, out, errOut := kbrun("run", "testdata/batch/ok", "--parallel", "3", "--junit", junit, "--summary", summary)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"alpha | kbrun: pipeline alpha, run ",
		"alpha |   hello | hello from alpha\n",
		"gamma |   one | gamma here\n",
		"beta  | ✓ F1 tidy (",
		"beta  | FAILED in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n\nPIPELINE")[0:1] {
		for _, line := range strings.Split(l, "\n") {
			if !regexp.MustCompile(`^(alpha|beta |gamma) \| `).MatchString(line) {
				t.Errorf("a line without its pipeline: %q", line)
			}
		}
	}
	table := regexp.MustCompile(`(?m)^PIPELINE +RESULT +DURATION +FAILED TASK +CAUSE *\nalpha +passed +\S+ +- +- *\ngamma +passed +\S+ +- +- *\nbeta +failed +\S+ +migrate +sh exited with code 3, expected 0; last output: password \*+ refused *\nFAILED: 1 of 3 pipelines failed\n$`)
	if !table.MatchString(out) {
		t.Errorf("no summary table at the end:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t-pw") || strings.Contains(errOut, "s3cr3t-pw") {
		t.Errorf("the secret is shown:\n%s\n%s", out, errOut)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| beta | ❌ failed |") || !strings.Contains(string(md), "`migrate` | sh exited with code 3, expected 0; last output: password ") || strings.Contains(string(md), "s3cr3t-pw") {
		t.Errorf("summary:\n%s", md)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range doc.Suites {
		var cases []string
		for _, c := range s.Cases {
			cases = append(cases, c.Name)
		}
		got = append(got, s.Name+":"+strings.Join(cases, "+")+":"+strings.Repeat("F", s.Failures))
	}
	if strings.Join(got, " ") != "alpha:hello: gamma:one: beta:migrate+tidy:F" {
		t.Errorf("suites %v\n%s", got, data)
	}
}

// With one pipeline, a folder's output is the file's, as ever.
func TestOnePipelineOutputIsUnchanged(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/ok.yaml")
	os.WriteFile(filepath.Join(dir, "ok.yaml"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("who: x\n"), 0o644)
	runID := []string{"--run-id", "fixed-1"}
	_, fromFile, _ := kbrun(append([]string{"run", "testdata/ok.yaml"}, runID...)...)
	code, fromDir, errOut := kbrun(append([]string{"run", dir}, runID...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	// Durations differ, and with them the table's padding.
	norm := func(s string) string {
		s = regexp.MustCompile(`\d+(\.\d+)?(µs|ms|s)`).ReplaceAllString(s, "D")
		return regexp.MustCompile(` +`).ReplaceAllString(s, " ")
	}
	if a, b := norm(fromFile), norm(fromDir); a != b {
		t.Errorf("a folder of one pipeline prints\n%s\nthe file prints\n%s", b, a)
	}
}

// One invalid pipeline runs nothing: every problem of every file is
// printed, and the valid pipeline beside them does not start.
func TestInvalidPipelineRunsNothing(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"one.yaml", "two.yaml"} {
		data, _ := os.ReadFile(filepath.Join("testdata/batch/bad", f))
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	mark := filepath.Join(dir, "ran")
	os.WriteFile(filepath.Join(dir, "good.yaml"), []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: good}\ntasks:\n  - name: a\n    run: {command: [touch, "+mark+"]}\n"), 0o644)
	code, out, errOut := kbrun("run", dir, "--parallel", "3")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"one.yaml:6:27: tasks[0].run.command[1]: template refers to undefined var \"nope\"", "one.yaml: 1 problem found; nothing was run", "two.yaml:6:5: tasks[0].runn: unknown field", "two.yaml: 1 problem found; nothing was run"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, err := os.Stat(mark); err == nil || out != "" {
		t.Errorf("the valid pipeline ran:\n%s", out)
	}
}

func TestSelectorAndFailFast(t *testing.T) {
	code, out, errOut := kbrun("run", "testdata/batch/ok", "-l", "team=payments,tier!=db")
	if code != 0 || !strings.Contains(out, "hello from alpha") || strings.Contains(out, "beta") || strings.Contains(out, "gamma") {
		t.Errorf("-l team=payments,tier!=db: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = kbrun("run", "testdata/batch/ok", "-l", "team=payments")
	if code != 1 || !strings.Contains(out, "alpha | ") || !strings.Contains(out, "beta  | ") || strings.Contains(out, "gamma") {
		t.Errorf("-l team=payments: exit %d\n%s", code, out)
	}
	// A pipeline left out needs no values; selected, it does.
	dir := t.TempDir()
	alpha, _ := os.ReadFile("testdata/batch/ok/alpha.yaml")
	os.WriteFile(filepath.Join(dir, "alpha.yaml"), alpha, 0o644)
	os.WriteFile(filepath.Join(dir, "needy.yaml"), []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: needy}\nvars:\n  token: {type: string, required: true}\ntasks:\n  - name: a\n    run: {command: [echo, needy]}\n"), 0o644)
	if code, out, errOut := kbrun("run", dir, "-l", "team=payments"); code != 0 || !strings.Contains(out, "hello from alpha") {
		t.Errorf("needy left out: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := kbrun("run", dir); code != 2 || !strings.Contains(errOut, `needy.yaml:5:3: vars.token: var "token" is required`) {
		t.Errorf("needy selected: exit %d\n%s", code, errOut)
	}
	code, _, errOut = kbrun("run", "testdata/batch/ok", "-l", "team=nobody")
	if code != 2 || !strings.Contains(errOut, `--selector "team=nobody": none of the 3 pipelines matches; nothing was run`) {
		t.Errorf("no match: exit %d\n%s", code, errOut)
	}
	// beta, named first, runs first and fails: alpha and gamma do not start.
	code, out, _ = kbrun("run", "testdata/batch/ok/sub/beta.yaml", "testdata/batch/ok", "--fail-fast")
	if code != 1 || strings.Contains(out, "hello from alpha") || !regexp.MustCompile(`(?m)^alpha +not run +- +- +not started: --fail-fast, pipeline beta failed`).MatchString(out) {
		t.Errorf("--fail-fast: exit %d\n%s", code, out)
	}
}

// --rerun-failed runs exactly the pipelines that failed in the report of
// the run before, from its JSON lines or its JUnit file.
func TestRerunFailed(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "report.xml")
	code, jsonOut, _ := kbrun("run", "testdata/batch/ok", "-o", "json", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	jsonl := filepath.Join(dir, "report.jsonl")
	os.WriteFile(jsonl, []byte(jsonOut), 0o644)
	for _, report := range []string{jsonl, junit} {
		code, out, errOut := kbrun("run", "testdata/batch/ok", "--rerun-failed", report)
		if code != 1 || !strings.Contains(out, "kbrun: pipeline beta") || strings.Contains(out, "alpha") || strings.Contains(out, "gamma") {
			t.Errorf("--rerun-failed %s: exit %d\n%s\n%s", report, code, out, errOut)
		}
	}
	code, _, errOut := kbrun("run", "testdata/batch/ok", "--rerun-failed", "testdata/batch/ok/values.yaml")
	if code != 2 || !strings.Contains(errOut, "--rerun-failed testdata/batch/ok/values.yaml: neither a JUnit XML report") {
		t.Errorf("not a report: exit %d\n%s", code, errOut)
	}
	passed := filepath.Join(dir, "passed.jsonl")
	_, okOut, _ := kbrun("run", "testdata/ok.yaml", "-o", "json")
	os.WriteFile(passed, []byte(okOut), 0o644)
	code, out, errOut := kbrun("run", "testdata/batch/ok", "--rerun-failed", passed)
	if code != 0 || out != "" || !strings.Contains(errOut, "no pipeline failed there; nothing to run") {
		t.Errorf("nothing failed: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestNamedFileThatIsNotAPipeline(t *testing.T) {
	code, out, errOut := kbrun("run", "testdata/batch/ok", "testdata/batch/ok/lib.yaml")
	if code != 2 || out != "" || !strings.Contains(errOut, "testdata/batch/ok/lib.yaml:2:7: kind: this file is a library of tasks") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = kbrun("validate", "testdata/batch/ok")
	if code != 0 || strings.Count(out, ": valid\n") != 3 {
		t.Errorf("validate a folder: exit %d\n%s", code, out)
	}
}

func TestPlanFolderAndUsage(t *testing.T) {
	code, out, errOut := kbrun("plan", "testdata/batch/ok", "-l", "team=payments")
	if code != 0 || !strings.Contains(out, "alpha | 1. hello (run)\n") || !strings.Contains(out, "beta  | Plan OK: nothing was run.\n") || strings.Contains(out, "PIPELINE") {
		t.Errorf("plan of a folder: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "testdata/batch/ok", "--parallel", "0"}, "--parallel must be 1 or more, got 0"},
		{[]string{"run", "testdata/batch/ok", "--log-dir", t.TempDir()}, "--log-dir works with one pipeline"},
		{[]string{"run", "testdata/batch/ok", "-l", "=x"}, `--selector "=x"`},
		{[]string{"run", t.TempDir()}, "no pipeline file (kind: Pipeline) in this folder or under it; nothing was run"},
		{[]string{"run", "testdata/batch/ok", "--summary", "testdata/none/s.md"}, "--summary testdata/none/s.md: "},
	} {
		code, out, errOut := kbrun(tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
}
