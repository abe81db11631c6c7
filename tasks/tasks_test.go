package tasks

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// recorder wraps a real task type: Prepare is the type's own (its checks
// and its Describe), the action records what it was prepared with and
// returns made-up outputs instead of running.
type recorder struct {
	task.Type
	mu   *sync.Mutex
	seen map[string]string // task -> describe and params when run
}

func (r recorder) Check(p task.Params) []task.FieldError {
	if c, ok := r.Type.(task.Checker); ok {
		return c.Check(p)
	}
	return nil
}

func (r recorder) Prepare(p task.Params) (task.Action, error) {
	a, err := r.Type.Prepare(p)
	if err != nil {
		return nil, err
	}
	return &recorded{Action: a, r: r, params: p.Value}, nil
}

type recorded struct {
	task.Action
	r      recorder
	params any
}

func (a *recorded) Run(_ context.Context, env *task.Env) (task.Outputs, error) {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	a.r.seen[env.Task] = shown(a.Describe(), a.params)
	out := task.Outputs{}
	for _, o := range a.r.Outputs() {
		out[o] = fmt.Sprintf("%s-%s", env.Task, o)
	}
	return out, nil
}

func shown(describe string, params any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(params)
	return describe + "\n  params: " + strings.TrimSpace(b.String())
}

var placeholder = regexp.MustCompile(`<tasks\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)>`)

// TestPlanAndRunShareOnePath: for every task type, what `kbrun plan` shows
// (its description and rendered parameters) is what the run prepares, once
// the stand-ins for earlier tasks' outputs are replaced by those outputs.
// The golden file holds both, task by task.
func TestPlanAndRunShareOnePath(t *testing.T) {
	mu, seen := &sync.Mutex{}, map[string]string{}
	var types []task.Type
	for _, typ := range Registry().Types() {
		types = append(types, recorder{Type: typ, mu: mu, seen: seen})
	}
	reg := task.NewRegistry(types...)
	l, err := load.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "shared", "pipeline.yaml")
	p, err := l.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tk := range p.AllTasks() {
		covered[tk.Type] = true
	}
	for _, name := range Registry().Names() {
		if !covered[name] {
			t.Errorf("task type %s is not in %s: add it", name, file)
		}
	}
	opts := runner.Options{Registry: reg, RunID: "20000101000000-0000", Environ: map[string]string{}}
	planned := &report.Recorder{}
	opts.DryRun, opts.Reporter = task.DryRunClient, planned
	if res := runner.Run(context.Background(), p, opts); res.Err != nil {
		t.Fatalf("plan: %v", res.Err)
	}
	opts.DryRun, opts.Reporter = task.DryRunNone, &report.Recorder{}
	if res := runner.Run(context.Background(), p, opts); res.Err != nil {
		t.Fatalf("run: %v", res.Err)
	}
	var golden []string
	for _, e := range planned.Events() {
		if e.Type != report.TaskPlan {
			continue
		}
		plan := shown(e.Describe, e.Params)
		run, ok := seen[e.Task]
		if !ok {
			t.Errorf("task %s was planned but did not run", e.Task)
			continue
		}
		// The stand-in <tasks.X.Y> is what the run had as X's output Y.
		resolved := placeholder.ReplaceAllString(plan, "$1-$2")
		if resolved != run {
			t.Errorf("task %s: the plan and the run differ\nplan: %s\nrun:  %s", e.Task, plan, run)
		}
		golden = append(golden, fmt.Sprintf("%s (%s)\nplan: %s\nrun:  %s\n", e.Task, e.TaskType, plan, run))
	}
	sort.Strings(golden)
	got := strings.ReplaceAll(strings.Join(golden, "\n"), mustAbs(t, "testdata"), "$TESTDATA")
	path := filepath.Join("testdata", "shared.golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./tasks -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./tasks -update rewrites it):\n%s", path, got)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
