package batch_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
)

func jobs(names ...string) []batch.Job {
	var out []batch.Job
	for _, n := range names {
		p := &pipeline.Pipeline{Name: n, Tasks: []*pipeline.Task{{Name: "t"}}}
		out = append(out, batch.Job{File: n + ".yaml", Pipeline: p})
	}
	return out
}

// fake runs a pipeline as the runner reports one: start, lines, end; a
// name in fail fails with its task t.
func fake(fail map[string]bool, lines int) batch.RunFunc {
	return func(j batch.Job, rep report.Reporter) batch.Outcome {
		n := j.Name()
		rep.Report(report.Event{Type: report.RunStart, Pipeline: n, RunID: "r"})
		rep.Report(report.Event{Type: report.TaskStart, Task: "t", TaskType: "run", Index: "1", Describe: "run"})
		for i := range lines {
			rep.Report(report.Event{Type: report.TaskOutput, Task: "t", Line: fmt.Sprintf("%s-line-%d", n, i)})
		}
		end := report.Event{Type: report.TaskEnd, Task: "t", TaskType: "run", Index: "1", Status: report.StatusOK, DurationMS: 1500}
		var err error
		if fail[n] {
			end.Status, end.Error = report.StatusFailed, "exit code 3\nlast output: x"
			err = &exit.TaskError{Task: "t", Err: errors.New("exit code 3")}
		}
		rep.Report(end)
		rev := report.Event{Type: report.RunEnd, Pipeline: n, DurationMS: 2000}
		if err != nil {
			rev.Error = err.Error()
		}
		rep.Report(rev)
		return batch.Outcome{Err: err}
	}
}

// Pipelines running at once write whole lines, each under its name.
func TestLinesStayWholeAndPrefixed(t *testing.T) {
	var out bytes.Buffer
	results := batch.Run(t.Context(), jobs("a", "bb", "c"), batch.Options{Parallel: 3, Out: &out, Run: fake(nil, 300)})
	counts := map[string]int{}
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		name, rest, ok := strings.Cut(l, " | ")
		name = strings.TrimSpace(name)
		if !ok || (name != "a" && name != "bb" && name != "c") {
			t.Fatalf("line without its pipeline's name: %q", l)
		}
		if strings.Contains(rest, "-line-") {
			if !strings.Contains(rest, "t | "+name+"-line-") {
				t.Fatalf("line of %s holds another's: %q", name, l)
			}
			counts[name]++
		}
	}
	for _, n := range []string{"a", "bb", "c"} {
		if counts[n] != 300 {
			t.Errorf("%s: %d lines, want 300", n, counts[n])
		}
	}
	if !strings.Contains(out.String(), "bb | kbrun: pipeline bb, run r\n") || !strings.Contains(out.String(), "a  | PASSED in 2s\n") {
		t.Errorf("header or verdict missing or not aligned:\n%s", out.String())
	}
	for _, r := range results {
		if r.Status != batch.Passed || r.Duration != 2*time.Second {
			t.Errorf("%s: %s in %s", r.Name, r.Status, r.Duration)
		}
	}
}

// With --parallel N, N pipelines run at once: each waits for the others
// to have started, which would never happen one at a time.
func TestParallelRunsAtOnce(t *testing.T) {
	var started sync.WaitGroup
	started.Add(3)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	run := func(j batch.Job, rep report.Reporter) batch.Outcome {
		started.Done()
		select {
		case <-all:
			return batch.Outcome{}
		case <-time.After(10 * time.Second):
			return batch.Outcome{Err: errors.New("the others never started")}
		}
	}
	for _, r := range batch.Run(t.Context(), jobs("a", "b", "c"), batch.Options{Parallel: 3, Out: &bytes.Buffer{}, Run: run}) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
}

func TestFailFast(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	run := func(j batch.Job, rep report.Reporter) batch.Outcome {
		ran = append(ran, j.Name())
		return fake(map[string]bool{"b": true}, 0)(j, rep)
	}
	results := batch.Run(t.Context(), jobs("a", "b", "c", "d"), batch.Options{Parallel: 1, FailFast: true, Out: &out, Run: run})
	if strings.Join(ran, ",") != "a,b" {
		t.Errorf("ran %v, want a and b only", ran)
	}
	want := []string{batch.Passed, batch.Failed, batch.NotRun, batch.NotRun}
	for i, r := range results {
		if r.Status != want[i] {
			t.Errorf("%s: %s, want %s", r.Name, r.Status, want[i])
		}
	}
	if results[1].FailedTask != "t" || results[1].Cause != "exit code 3 last output: x" {
		t.Errorf("b: failed task %q, cause %q", results[1].FailedTask, results[1].Cause)
	}
	if results[2].Cause != "not started: --fail-fast, pipeline b failed" {
		t.Errorf("c: cause %q", results[2].Cause)
	}
	if code := exit.Code(batch.Err(results)); code != exit.TaskFailed {
		t.Errorf("exit code %d, want 1", code)
	}
	// Without --fail-fast every pipeline runs.
	ran = nil
	batch.Run(t.Context(), jobs("a", "b", "c"), batch.Options{Parallel: 1, Out: &out, Run: run})
	if len(ran) != 3 {
		t.Errorf("without --fail-fast ran %v", ran)
	}
}

func TestErrKeepsTheWorstCode(t *testing.T) {
	for _, tc := range []struct {
		errs []error
		want int
	}{
		{[]error{nil, nil}, exit.OK},
		{[]error{nil, &exit.TaskError{Task: "t", Err: errors.New("x")}}, exit.TaskFailed},
		{[]error{&exit.TaskError{Task: "t", Err: errors.New("x")}, &exit.InvalidError{Err: errors.New("no cluster")}}, exit.Invalid},
		{[]error{&exit.InvalidError{Err: errors.New("x")}, &exit.InterruptedError{Signal: "SIGTERM", Number: 15}}, 143},
	} {
		var rs []batch.Result
		for _, err := range tc.errs {
			rs = append(rs, batch.Result{Err: err})
		}
		if got := exit.Code(batch.Err(rs)); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.errs, got, tc.want)
		}
	}
}
