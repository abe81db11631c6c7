//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/examples"
	"github.com/kbrun/kbrun/test/otlpsink"
)

// TestTraceMultiArch runs the gallery's multi-arch pipeline (a matrix
// compile, a matrix check, apply, deploy, copy, exec, delete in finally)
// on the cluster with OTEL_EXPORTER_OTLP_ENDPOINT pointed at a receiver in
// the test, and checks the trace: one root, the pipeline under it, every
// task under the pipeline with status Ok, each matrix's cells under it,
// each action's attempts under it (the last Ok), and the objects the
// cluster tasks touched.
func TestTraceMultiArch(t *testing.T) {
	const ns = "e2e-trace"
	var ex examples.Example
	for _, e := range examples.Gallery {
		if e.Name == "multi-arch" {
			ex = e
		}
	}
	sink := otlpsink.New(t)
	dir := filepath.Join(repoRoot, "examples")
	args := append([]string{"run", ex.Pipeline(dir), "-o", "json", "--set", "namespace=" + ns}, ex.Args(dir)...)
	r := kbrunEnv(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL}, args...)
	ok(t, r, "compile", "inspect", "checksums", "namespace", "runner", "copy", "hello")
	if strings.Contains(r.stderr, "trace was not exported") {
		t.Errorf("stderr: %s", r.stderr)
	}
	spans := sink.Spans()
	t.Logf("spans:\n%s", otlpsink.Tree(spans))
	byID := map[string]otlpsink.Span{}
	for _, sp := range spans {
		byID[sp.ID] = sp
		if sp.TraceID != spans[0].TraceID {
			t.Errorf("span %s in another trace", sp.Name)
		}
	}
	kids := func(parent otlpsink.Span, prefix string) []otlpsink.Span {
		var out []otlpsink.Span
		for _, sp := range spans {
			if sp.Parent == parent.ID && strings.HasPrefix(sp.Name, prefix) {
				out = append(out, sp)
			}
		}
		return out
	}
	one := func(name string) otlpsink.Span {
		t.Helper()
		found := otlpsink.Find(spans, name)
		if len(found) != 1 {
			t.Fatalf("%d spans named %q, want 1", len(found), name)
		}
		return found[0]
	}
	root, pl := one("kbrun run"), one("pipeline multi-arch")
	if root.Parent != "" || pl.Parent != root.ID || root.Status != "Ok" || pl.Status != "Ok" {
		t.Errorf("root %+v\npipeline %+v", root, pl)
	}
	tasks := map[string]otlpsink.Span{}
	for _, sp := range kids(pl, "task ") {
		tasks[strings.TrimPrefix(sp.Name, "task ")] = sp
	}
	for _, name := range []string{"compile", "inspect", "checksums", "namespace", "runner", "copy", "hello", "cleanup"} {
		sp, found := tasks[name]
		if !found || sp.Status != "Ok" {
			t.Errorf("task %s: %+v, want a span under the pipeline, Ok", name, sp)
			continue
		}
		cells := kids(sp, "cell ")
		if name == "compile" || name == "inspect" {
			if len(cells) != 2 {
				t.Errorf("task %s has %d cells, want 2 (amd64, arm64)", name, len(cells))
			}
			for _, c := range cells {
				checkAttempts(t, c, kids(c, "attempt"))
			}
			continue
		}
		checkAttempts(t, sp, kids(sp, "attempt"))
	}
	if objs := fmt.Sprint(tasks["namespace"].Attrs["kbrun.objects"]); !strings.Contains(objs, "Namespace/"+ns) {
		t.Errorf("task namespace: kbrun.objects %s", objs)
	}
	if got := tasks["runner"].Attrs["k8s.namespace.name"]; got != ns {
		t.Errorf("task runner: k8s.namespace.name %v", got)
	}
	if del := fmt.Sprint(tasks["cleanup"].Attrs["kbrun.deleted"]); !strings.Contains(del, ns) {
		t.Errorf("task cleanup: kbrun.deleted %s", del)
	}
	if p := tasks["hello"].Attrs["kbrun.output.platform"]; p != "linux/amd64" {
		t.Errorf("task hello: kbrun.output.platform %v", p)
	}
	namespaceGone(t, ns)
}

// checkAttempts: an action has one attempt span per attempt its task
// reports, the last Ok.
func checkAttempts(t *testing.T, task otlpsink.Span, attempts []otlpsink.Span) {
	t.Helper()
	if n, _ := task.Attrs["kbrun.task.attempts"].(int64); int(n) != len(attempts) || n == 0 {
		t.Errorf("%s: %d attempt spans, the task says %v", task.Name, len(attempts), task.Attrs["kbrun.task.attempts"])
		return
	}
	last := attempts[0]
	for _, a := range attempts {
		if a.Attrs["kbrun.attempt"].(int64) > last.Attrs["kbrun.attempt"].(int64) {
			last = a
		}
	}
	if last.Status != "Ok" {
		t.Errorf("%s: last attempt %+v", task.Name, last)
	}
}
