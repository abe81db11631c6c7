package app_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/tasks"
)

// TestPlanStatusIsRunStatus: for pipelines with every kind of node (plain
// tasks, a parallel group, a finally parallel group, matrix tasks and
// groups, uses of a library, all of them nested) and every selection (each
// task with --only, --skip and --from, pairs, --keep), the status each node
// gets in `plan -o json` is the one it gets in `run -o json`, node by
// node: planned is ok, skipped is skipped. A selection the plan refuses
// (exit 2: a task reads an output of one that does not run) is refused by
// the run alike, before anything runs.
func TestPlanStatusIsRunStatus(t *testing.T) {
	files, err := filepath.Glob("testdata/planrun/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("pipelines: %v %v", files, err)
	}
	var compared, skipped, refused atomic.Int64
	// The pipelines in parallel: each run mostly waits for its commands.
	t.Run("pipelines", func(t *testing.T) {
		for _, file := range files {
			t.Run(filepath.Base(file), func(t *testing.T) {
				t.Parallel()
				for _, sel := range selections(t, file) {
					c, s, r := comparePlanAndRun(t, file, sel)
					compared.Add(c)
					skipped.Add(s)
					refused.Add(r)
				}
			})
		}
	})
	// The comparison means something only if selections skip nodes and
	// some are refused.
	if compared.Load() < 1000 || skipped.Load() < 300 || refused.Load() == 0 {
		t.Errorf("compared %d nodes (%d skipped), %d selections refused", compared.Load(), skipped.Load(), refused.Load())
	}
}

// comparePlanAndRun plans and runs file with a selection and compares the
// status of each node; it returns how many nodes it compared, how many of
// them were skipped, and 1 if the selection was refused.
func comparePlanAndRun(t *testing.T, file string, sel []string) (compared, skipped, refused int64) {
	name := filepath.Base(file) + " " + strings.Join(sel, " ")
	planCode, planOut, planErr := kbrun(append([]string{"plan", file, "-o", "json"}, sel...)...)
	runCode, runOut, runErr := kbrun(append([]string{"run", file, "-o", "json"}, sel...)...)
	if planCode == 2 || runCode == 2 {
		if planCode != runCode || runOut != "" {
			t.Errorf("%s: plan exit %d, run exit %d (a refused selection runs nothing)\nplan: %s\nrun: %s%s", name, planCode, runCode, planErr, runErr, runOut)
		}
		return 0, 0, 1
	}
	if planCode != 0 || runCode != 0 {
		t.Errorf("%s: plan exit %d, run exit %d\n%s%s", name, planCode, runCode, planErr, runErr)
		return 0, 0, 0
	}
	plan, run := statusByIndex(t, planOut, "task.plan"), statusByIndex(t, runOut, "task.end")
	for idx, p := range plan {
		want := p
		if p.status == "planned" {
			want.status = "ok"
		}
		if got, ok := run[idx]; !ok {
			t.Errorf("%s: node %s %s is %s in the plan, not in the run", name, idx, p.task, p.status)
		} else if got != want {
			t.Errorf("%s: node %s %s is %s in the plan, %s %s in the run", name, idx, p.task, p.status, got.task, got.status)
		}
		if want.status == "skipped" {
			skipped++
		}
		compared++
	}
	for idx, r := range run {
		if _, ok := plan[idx]; !ok {
			t.Errorf("%s: node %s %s is %s in the run, not in the plan", name, idx, r.task, r.status)
		}
	}
	return compared, skipped, 0
}

// selections lists the selections tried on a pipeline: none, each task
// (library tasks by their names in the use) with --only, --skip and
// --from, pairs (the first and last, --from with --skip) and --keep.
func selections(t *testing.T, file string) [][]string {
	t.Helper()
	l, err := load.New(tasks.Registry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, task := range pipeline.Flatten(p.Tasks) {
		names = append(names, task.Name)
	}
	first, last := names[0], names[len(names)-1]
	out := [][]string{nil, {"--keep"}, {"--keep", "--only", last}, {"--only", first + "," + last}, {"--skip", first + "," + last}, {"--from", names[1], "--skip", last}}
	for _, n := range names {
		out = append(out, []string{"--only", n}, []string{"--skip", n}, []string{"--from", n})
	}
	return out
}

type nodeStatus struct{ task, status string }

// statusByIndex reads the status of each node from events of type typ.
func statusByIndex(t *testing.T, out, typ string) map[string]nodeStatus {
	t.Helper()
	m := map[string]nodeStatus{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct{ Type, Task, Index, Status string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if e.Type != typ {
			continue
		}
		if _, dup := m[e.Index]; dup {
			t.Errorf("two %s events for node %s", typ, e.Index)
		}
		m[e.Index] = nodeStatus{e.Task, e.Status}
	}
	if len(m) == 0 {
		t.Fatalf("no %s event in:\n%s", typ, out)
	}
	return m
}
