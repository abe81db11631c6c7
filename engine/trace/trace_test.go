package trace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/trace"
	"github.com/kbrun/kbrun/test/otlpsink"
)

const header = `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: t}
`

// traced runs the pipeline body (files: other files beside it, by name)
// with tracing on, exported over OTLP/HTTP to a receiver in the test, and
// returns what it received once kbrun's end of the trace has flushed.
func traced(t *testing.T, body string, files map[string]string) []otlpsink.Span {
	t.Helper()
	sink := otlpsink.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	dir := t.TempDir()
	files["p.yaml"] = header + body
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := task.NewRegistry(&flaky{calls: map[string]int{}})
	l, err := load.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Load(filepath.Join(dir, "p.yaml"))
	if err != nil {
		t.Fatalf("pipeline does not load:\n%v", err)
	}
	var warn strings.Builder
	tr := trace.Start(context.Background(), trace.Options{Getenv: os.Getenv, Warn: &warn, Version: "test"})
	if tr == nil {
		t.Fatal("tracing is off with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	runner.Run(context.Background(), p, runner.Options{
		Registry: reg,
		Reporter: report.Multi{tr.Pipeline()},
		RunID:    "20000101000000-0000",
		Sleep:    func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		Rand:     func() float64 { return 0.5 }, // no jitter
	})
	tr.End()
	if warn.Len() > 0 {
		t.Errorf("warnings: %s", warn.String())
	}
	spans := sink.Spans()
	for _, sp := range spans {
		if sp.TraceID != spans[0].TraceID {
			t.Errorf("span %s is in trace %s, not %s", sp.Name, sp.TraceID, spans[0].TraceID)
		}
		if sp.Service != "kbrun" {
			t.Errorf("span %s: service.name %q", sp.Name, sp.Service)
		}
		if sp.End.Before(sp.Start) {
			t.Errorf("span %s ends before it starts", sp.Name)
		}
	}
	return spans
}

func wantTree(t *testing.T, spans []otlpsink.Span, want string) {
	t.Helper()
	if got := otlpsink.Tree(spans); got != want {
		t.Errorf("span tree:\n%s\nwant:\n%s", got, want)
	}
}

// one returns the one span named name.
func one(t *testing.T, spans []otlpsink.Span, name string) otlpsink.Span {
	t.Helper()
	found := otlpsink.Find(spans, name)
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1:\n%s", len(found), name, otlpsink.Tree(spans))
	}
	return found[0]
}

// TestPassingRun: the run is the root, the pipeline under it, each task
// under the pipeline or under its group or use, each attempt under its
// task; every status Ok, with the task's type, index, attempts and the
// objects it touched.
func TestPassingRun(t *testing.T) {
	spans := traced(t, `tasks:
  - {name: first, flaky: {id: first}}
  - name: both
    parallel:
      tasks:
        - {name: a, flaky: {id: a}}
        - {name: b, flaky: {id: b}}
  - {name: lib, uses: lib.yaml, with: {who: x}}
finally:
  - {name: cleanup, flaky: {id: cleanup}}
`, map[string]string{"lib.yaml": `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: lib}
params:
  who: {type: string}
tasks:
  - {name: one, flaky: {id: "{{ .params.who }}"}}
`})
	wantTree(t, spans, `kbrun run [Ok]
  pipeline t [Ok]
    task first [Ok]
      attempt [Ok]
    task both [Ok]
      task a [Ok]
        attempt [Ok]
      task b [Ok]
        attempt [Ok]
    task lib [Ok]
      task lib.one [Ok]
        attempt [Ok]
    task cleanup [Ok]
      attempt [Ok]
`)
	root, pl := one(t, spans, "kbrun run"), one(t, spans, "pipeline t")
	if root.Parent != "" || pl.Parent != root.ID {
		t.Errorf("root's parent %q, pipeline's %q (root %s)", root.Parent, pl.Parent, root.ID)
	}
	if pl.Attrs["kbrun.run_id"] != "20000101000000-0000" || pl.Attrs["kbrun.exit_code"] != int64(0) {
		t.Errorf("pipeline attributes %v", pl.Attrs)
	}
	first := one(t, spans, "task first")
	for k, v := range map[string]any{
		"kbrun.task": "first", "kbrun.task.type": "flaky", "kbrun.task.index": "1", "kbrun.task.status": "ok",
		"kbrun.task.attempts": int64(1), "kbrun.task.retries": int64(0), "kbrun.task.finally": false,
		"kbrun.task.describe": "flaky first", "kbrun.output.id": "first",
	} {
		if first.Attrs[k] != v {
			t.Errorf("task first: %s = %#v, want %#v", k, first.Attrs[k], v)
		}
	}
	if objs, _ := first.Attrs["kbrun.objects"].([]any); len(objs) != 1 || objs[0] != "ConfigMap/ns1/first" {
		t.Errorf("task first: kbrun.objects = %#v", first.Attrs["kbrun.objects"])
	}
	if cl := one(t, spans, "task cleanup"); cl.Attrs["kbrun.task.finally"] != true || cl.Attrs["kbrun.task.index"] != "F1" {
		t.Errorf("task cleanup: %v", cl.Attrs)
	}
	if typ := one(t, spans, "task lib").Attrs["kbrun.task.type"]; typ != "uses" {
		t.Errorf("task lib: type %v", typ)
	}
}

// TestRetriedFailingTask: an attempt that failed is an Error span with
// its error; a task that gave up is an Error with the run's message, the
// tasks it stopped are skipped (status Unset, the reason said), and the
// pipeline and the run are Errors.
func TestRetriedFailingTask(t *testing.T) {
	spans := traced(t, `tasks:
  - name: mended
    flaky: {id: mended, failTimes: 1, notice: true}
    retry: {attempts: 3, backoff: 10ms}
  - name: broken
    flaky: {id: broken, failTimes: 9}
    retry: {attempts: 2, backoff: 10ms}
  - {name: never, flaky: {id: never}}
`, map[string]string{})
	wantTree(t, spans, `kbrun run [Error]
  pipeline t [Error]
    task mended [Ok]
      attempt [Error]
      attempt [Ok]
    task broken [Error]
      attempt [Error]
      attempt [Error]
    task never [Unset]
`)
	mended := one(t, spans, "task mended")
	if mended.Attrs["kbrun.task.attempts"] != int64(2) || mended.Attrs["kbrun.task.retries"] != int64(1) || mended.Attrs["kbrun.task.max_attempts"] != int64(3) {
		t.Errorf("task mended: %v", mended.Attrs)
	}
	if len(mended.Events) != 2 || mended.Events[0] != "request.retry" {
		t.Errorf("task mended: events %v, want a request.retry per attempt", mended.Events)
	}
	var attempts []otlpsink.Span
	for _, sp := range otlpsink.Find(spans, "attempt") {
		if sp.Parent == mended.ID {
			attempts = append(attempts, sp)
		}
	}
	if len(attempts) != 2 || attempts[0].Message != "transient failure 1 of mended" || attempts[0].Attrs["kbrun.retry.wait_ms"] != int64(10) {
		t.Errorf("mended's attempts: %+v", attempts)
	} else if attempts[1].Start.Before(attempts[0].End) {
		t.Errorf("attempt 2 starts before attempt 1 ends")
	}
	broken := one(t, spans, "task broken")
	if !strings.HasPrefix(broken.Message, "gave up after 2 attempts: transient failure 2 of broken") || broken.Attrs["kbrun.task.status"] != "failed" {
		t.Errorf("task broken: %q %v", broken.Message, broken.Attrs)
	}
	if never := one(t, spans, "task never"); never.Attrs["kbrun.task.status"] != "skipped" || !strings.Contains(never.Attrs["kbrun.task.reason"].(string), "an earlier task failed") {
		t.Errorf("task never: %v", never.Attrs)
	}
	if pl := one(t, spans, "pipeline t"); !strings.Contains(pl.Message, "broken") || pl.Attrs["kbrun.exit_code"] != int64(1) {
		t.Errorf("pipeline: %q %v", pl.Message, pl.Attrs)
	}
}

// TestMatrix: a matrix task's cells are spans under it, a group's tasks in
// each cell under the cell; a failing cell is an Error, and the matrix
// task with it, unless it may fail.
func TestMatrix(t *testing.T) {
	spans := traced(t, `tasks:
  - name: m
    matrix: {x: [one, two]}
    parallel:
      tasks:
        - {name: mc, flaky: {id: "mc-{{ .matrix.x }}"}}
  - name: ma
    matrix: {y: [ok, bad]}
    maxParallel: 1
    continueOnError: true
    retry: {attempts: 1}
    flaky: {id: "ma-{{ .matrix.y }}", fatal: "{{ eq .matrix.y \"bad\" }}"}
`, map[string]string{})
	wantTree(t, spans, `kbrun run [Ok]
  pipeline t [Ok]
    task m [Ok]
      cell m[one] [Ok]
        task mc[one] [Ok]
          attempt [Ok]
      cell m[two] [Ok]
        task mc[two] [Ok]
          attempt [Ok]
    task ma [Error]
      cell ma[ok] [Ok]
        attempt [Ok]
      cell ma[bad] [Error]
        attempt [Error]
`)
	m := one(t, spans, "task m")
	if m.Attrs["kbrun.matrix.cells"] != int64(2) || m.Attrs["kbrun.task.reason"] != "2 of 2 cells ok" {
		t.Errorf("task m: %v", m.Attrs)
	}
	if bad := one(t, spans, "cell ma[bad]"); bad.Message != "fatal failure of ma-bad" || bad.Attrs["kbrun.task.index"] != "2.2" {
		t.Errorf("cell ma[bad]: %q %v", bad.Message, bad.Attrs)
	}
}

// TestPipelinesUnderOneRun: pipelines run by one kbrun process are
// siblings under its root span, each with its own tasks, whether each has
// its own reporter or one is used again.
func TestPipelinesUnderOneRun(t *testing.T) {
	sink := otlpsink.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	reg := task.NewRegistry(&flaky{calls: map[string]int{}})
	l, err := load.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	tr := trace.Start(context.Background(), trace.Options{Getenv: os.Getenv, Warn: t.Output()})
	again := tr.Pipeline()
	for i, rep := range []*trace.Pipeline{tr.Pipeline(), again, again} {
		body := strings.Replace(header, "name: t", fmt.Sprintf("name: p%d", i+1), 1) + fmt.Sprintf("tasks:\n  - {name: a, flaky: {id: a%d}}\n", i)
		p, err := l.LoadBytes("p.yaml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		runner.Run(context.Background(), p, runner.Options{Registry: reg, Reporter: rep})
	}
	tr.End()
	wantTree(t, sink.Spans(), `kbrun run [Ok]
  pipeline p1 [Ok]
    task a [Ok]
      attempt [Ok]
  pipeline p2 [Ok]
    task a [Ok]
      attempt [Ok]
  pipeline p3 [Ok]
    task a [Ok]
      attempt [Ok]
`)
}
