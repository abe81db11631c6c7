package runner_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// selectionPipeline has each kind of node: plain tasks, a parallel group, a
// matrix group, a use of a library, and a finally parallel group.
var selectionPipeline = map[string]string{
	"lib.yaml": `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: lib}
tasks:
  - {name: l1, fake: {id: l1}}
  - {name: l2, fake: {id: l2}}
`,
	"p.yaml": header + `
tasks:
  - {name: a, fake: {id: a}}
  - name: g
    parallel:
      tasks:
        - {name: b, fake: {id: b}}
        - {name: c, fake: {id: c}}
  - name: m
    matrix: {x: [1, 2]}
    parallel:
      tasks:
        - {name: mc, fake: {id: "mc{{ .matrix.x }}"}}
        - {name: md, fake: {id: "md{{ .matrix.x }}"}}
  - {name: u, uses: lib.yaml}
  - {name: d, fake: {id: d}}
finally:
  - name: fg
    parallel:
      tasks:
        - {name: f1, fake: {id: f1}}
        - {name: f2, fake: {id: f2}}
`,
}

// TestSelectionRules: --only, --from, --skip and --keep, decided once on
// the plan tree, as docs/flags.md says them, for every kind of node.
func TestSelectionRules(t *testing.T) {
	all := []string{"a", "b", "c", "mc1", "mc2", "md1", "md2", "l1", "l2", "d", "f1", "f2"}
	fin := []string{"f1", "f2"}
	with := func(ids ...string) []string { return append(ids, fin...) }
	without := func(ids ...string) []string {
		var out []string
		for _, id := range all {
			if !slices.Contains(ids, id) {
				out = append(out, id)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		mod  func(*runner.Options)
		ran  []string
	}{
		{"nothing given: everything", nil, all},
		{"finally runs whole under --only", func(o *runner.Options) { o.Only = []string{"d"} }, with("d")},
		{"finally runs whole under --from", func(o *runner.Options) { o.From = "d" }, with("d")},
		{"finally runs whole under --skip", func(o *runner.Options) { o.Skip = []string{"a", "g", "m", "u", "d"} }, fin},
		{"--keep skips finally", func(o *runner.Options) { o.Keep = true }, without("f1", "f2")},
		{"--keep with --only", func(o *runner.Options) { o.Keep, o.Only = true, []string{"a"} }, []string{"a"}},
		{"selecting a group selects its children", func(o *runner.Options) { o.Only = []string{"g"} }, with("b", "c")},
		{"selecting a child selects the path to it", func(o *runner.Options) { o.Only = []string{"c"} }, with("c")},
		{"selecting a matrix group runs every cell", func(o *runner.Options) { o.Only = []string{"m"} }, with("mc1", "mc2", "md1", "md2")},
		{"selecting a matrix child selects it in every cell", func(o *runner.Options) { o.Only = []string{"md"} }, with("md1", "md2")},
		{"selecting a use runs its tasks", func(o *runner.Options) { o.Only = []string{"u"} }, with("l1", "l2")},
		{"selecting a library task by its name in the use", func(o *runner.Options) { o.Only = []string{"u.l2"} }, with("l2")},
		{"--only several", func(o *runner.Options) { o.Only = []string{"a", "mc", "u.l1"} }, with("a", "mc1", "mc2", "l1")},
		{"--skip a group skips its children", func(o *runner.Options) { o.Skip = []string{"g"} }, without("b", "c")},
		{"--skip a child", func(o *runner.Options) { o.Skip = []string{"b"} }, without("b")},
		{"--skip a matrix child skips it in every cell", func(o *runner.Options) { o.Skip = []string{"mc"} }, without("mc1", "mc2")},
		{"--skip a matrix group", func(o *runner.Options) { o.Skip = []string{"m"} }, without("mc1", "mc2", "md1", "md2")},
		{"--skip a library task", func(o *runner.Options) { o.Skip = []string{"u.l1"} }, without("l1")},
		{"--only with --skip under it", func(o *runner.Options) { o.Only, o.Skip = []string{"g", "m"}, []string{"b", "md"} }, with("c", "mc1", "mc2")},
		{"--from a top task", func(o *runner.Options) { o.From = "m" }, with("mc1", "mc2", "md1", "md2", "l1", "l2", "d")},
		{"--from a group child: file order, and the path", func(o *runner.Options) { o.From = "c" }, with("c", "mc1", "mc2", "md1", "md2", "l1", "l2", "d")},
		{"--from a matrix child: in every cell", func(o *runner.Options) { o.From = "md" }, with("md1", "md2", "l1", "l2", "d")},
		{"--from a library task", func(o *runner.Options) { o.From = "u.l2" }, with("l2", "d")},
		{"--from with --skip", func(o *runner.Options) { o.From, o.Skip = "g", []string{"u", "c"} }, with("b", "mc1", "mc2", "md1", "md2", "d")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			p := h.loadFile(t, filepath.Join(files(t, selectionPipeline), "p.yaml"))
			o := h.opts()
			if tc.mod != nil {
				tc.mod(&o)
			}
			res := runner.Run(context.Background(), p, o)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			var ran []string
			for _, id := range all {
				if n := h.fake.attempts(id); n > 1 {
					t.Errorf("%s ran %d times", id, n)
				} else if n == 1 {
					ran = append(ran, id)
				}
			}
			if !slices.Equal(ran, tc.ran) {
				t.Errorf("ran %v, want %v", ran, tc.ran)
			}
		})
	}
}

// TestSelectionReasons: a task that does not run says which flag left it
// out, in the plan and in the run alike.
func TestSelectionReasons(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mod        func(*runner.Options)
		task, want string
	}{
		{"only", func(o *runner.Options) { o.Only = []string{"c"} }, "b", "not selected by --only"},
		{"skip", func(o *runner.Options) { o.Skip = []string{"g"} }, "c", "skipped with --skip"},
		{"from", func(o *runner.Options) { o.From = "c" }, "a", "before --from c"},
		{"keep", func(o *runner.Options) { o.Keep = true }, "f2", "finally, skipped with --keep"},
	} {
		for _, dry := range []bool{true, false} {
			h := newHarness()
			p := h.loadFile(t, filepath.Join(files(t, selectionPipeline), "p.yaml"))
			o := h.opts()
			tc.mod(&o)
			typ := report.TaskEnd
			if dry {
				o.DryRun, typ = task.DryRunClient, report.TaskPlan
			}
			if res := runner.Run(context.Background(), p, o); res.Err != nil {
				t.Fatal(res.Err)
			}
			found := false
			for _, e := range h.rec.Events() {
				if e.Type == typ && e.Task == tc.task {
					found = true
					if e.Status != report.StatusSkipped || !strings.HasPrefix(e.Reason, tc.want) {
						t.Errorf("%s (dry run %v): %s %s [%s], want skipped [%s]", tc.name, dry, e.Task, e.Status, e.Reason, tc.want)
					}
				}
			}
			if !found {
				t.Errorf("%s (dry run %v): no %s event for %s", tc.name, dry, typ, tc.task)
			}
		}
	}
}

// TestSelectionUnknownNames: a name that is no task (or a finally task's)
// is a usage error naming the flag, before anything runs.
func TestSelectionUnknownNames(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*runner.Options)
		want string
	}{
		{func(o *runner.Options) { o.Only = []string{"a", "nope"} }, `--only nope: the pipeline has no task "nope"`},
		{func(o *runner.Options) { o.Skip = []string{"l1"} }, `--skip l1: the pipeline has no task "l1"`},
		{func(o *runner.Options) { o.From = "f1" }, `--from f1: the pipeline has no task "f1" (finally tasks cannot be selected`},
	} {
		h := newHarness()
		p := h.loadFile(t, filepath.Join(files(t, selectionPipeline), "p.yaml"))
		o := h.opts()
		tc.mod(&o)
		res := runner.Run(context.Background(), p, o)
		if exit.Code(res.Err) != exit.Invalid || !strings.Contains(res.Err.Error(), tc.want) {
			t.Errorf("got %v (exit %d), want exit 2 with %q", res.Err, exit.Code(res.Err), tc.want)
		}
		if h.fake.attempts("a") != 0 || len(h.rec.Events()) != 0 {
			t.Errorf("something ran: %d events", len(h.rec.Events()))
		}
	}
}
