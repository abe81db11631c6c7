package load_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/compile"
	"github.com/kbrun/kbrun/tasks/run"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testRegistry is fixed so that goldens do not change when task types are
// added to kbrun.
func testRegistry() *task.Registry { return task.NewRegistry(run.Type{}, compile.Type{}) }

func newLoader(t testing.TB) *load.Loader {
	t.Helper()
	l, err := load.New(testRegistry())
	if err != nil {
		t.Fatalf("load.New: %v", err)
	}
	return l
}

// TestInvalidGolden loads every file of testdata/invalid and compares the
// complete error output with its .golden file: every problem, with
// file:line:col and field path, in order.
func TestInvalidGolden(t *testing.T) {
	l := newLoader(t)
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 20 {
		t.Fatalf("expected the invalid corpus, found %d files", len(files))
	}
	abs, _ := filepath.Abs("testdata/invalid")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := l.Load(f)
			if err == nil {
				t.Fatalf("%s loaded without error", f)
			}
			var errs *load.Errors
			if !asErrors(err, &errs) {
				t.Fatalf("error is %T, want *load.Errors: %v", err, err)
			}
			for _, e := range errs.List() {
				if e.File != f || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a position in the file: %q", e.Error())
				}
			}
			got := strings.ReplaceAll(err.Error(), abs, "$DIR") + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// asErrors finds the problems in err: a *load.Errors, or a *load.Partial
// (every problem in a task) that holds one.
func asErrors(err error, target **load.Errors) bool {
	return errors.As(err, target)
}

func TestValid(t *testing.T) {
	l := newLoader(t)
	p, err := l.Load("testdata/valid/full.yaml")
	if err != nil {
		t.Fatalf("valid pipeline rejected:\n%v", err)
	}
	if p.Name != "full" || len(p.Tasks) != 3 || len(p.Finally) != 1 {
		t.Fatalf("unexpected model: name=%q tasks=%d finally=%d", p.Name, len(p.Tasks), len(p.Finally))
	}
	wantVars := []string{"ns", "caps", "token", "derived"}
	for i, v := range p.Vars {
		if v.Name != wantVars[i] {
			t.Errorf("var %d = %q, want %q (file order)", i, v.Name, wantVars[i])
		}
	}
	if !p.Vars[2].Secret {
		t.Errorf("token should be secret")
	}
	group := p.Tasks[1]
	if group.Type != pipeline.ParallelType || len(group.Children) != 2 || group.Children[1].Type != "compile" {
		t.Errorf("parallel group not read: %+v", group)
	}
	last := p.Tasks[2]
	if last.Retry.Attempts != 1 || last.Retry.Backoff.String() != "10ms" || !last.ContinueOnError {
		t.Errorf("task retry should merge with defaults: %+v", last.Retry)
	}
	if p.Tasks[0].Timeout != "1m" {
		t.Errorf("default timeout not applied: %q", p.Tasks[0].Timeout)
	}
	wantDir, _ := filepath.Abs("testdata/valid")
	if p.Dir != wantDir {
		t.Errorf("Dir = %q, want %q", p.Dir, wantDir)
	}
}

// TestOversized checks the size limit without a 4 MiB file in the repo.
func TestOversized(t *testing.T) {
	l := newLoader(t)
	data := []byte("apiVersion: kbrun.dev/v1alpha1\n# " + strings.Repeat("x", pipeline.MaxFileSize) + "\n")
	_, err := l.LoadBytes("big.yaml", data)
	if err == nil || !strings.Contains(err.Error(), "big.yaml:1:1: file is larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	l := newLoader(t)
	_, err := l.Load("testdata/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.yaml") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v", err)
	}
}

// FuzzLoad: any bytes give a pipeline or errors with positions, never a
// panic or a hang.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	l := newLoader(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := l.LoadBytes("fuzz.yaml", data)
		var errs *load.Errors
		if errors.As(err, &errs) {
			for _, e := range errs.List() {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error without the file name: %v", e)
				}
			}
		}
	})
}

// TestUsesGolden loads each pipeline of testdata/uses (with the libraries
// of testdata/uses/lib it names) and compares every problem, in whichever
// file it is, with its .golden file.
func TestUsesGolden(t *testing.T) {
	l := newLoader(t)
	files, _ := filepath.Glob("testdata/uses/*.yaml")
	if len(files) < 4 {
		t.Fatalf("expected the uses corpus, found %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := l.Load(f)
			var errs *load.Errors
			if err == nil || !asErrors(err, &errs) {
				t.Fatalf("%s: error %v, want problems", f, err)
			}
			for _, e := range errs.List() {
				if !strings.HasPrefix(e.File, "testdata/uses/") || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a position in a file: %q", e.Error())
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestUsesExpanded: a valid uses task gets its library's tasks as children,
// named after it, with the library as their origin (positions, folder) and
// their names in the library kept for its templates.
func TestUsesExpanded(t *testing.T) {
	dir := t.TempDir()
	lib, _ := os.ReadFile("testdata/uses/lib/build.yaml")
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "build.yaml"), lib, 0o644)
	pf := filepath.Join(dir, "p.yaml")
	os.WriteFile(pf, []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: p}
tasks:
  - name: arm
    uses: lib/build.yaml
    with: {pkg: ./cmd/x, arch: arm64}
  - name: after
    run: {command: [echo, "{{ .tasks.arm.path }}"]}
`), 0o644)
	p, err := newLoader(t).Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	u := p.Tasks[0]
	if u.Type != pipeline.UsesType || u.Uses.Lib == nil || len(u.Children) != 2 {
		t.Fatalf("uses task %+v", u)
	}
	for i, want := range []string{"arm.compile", "arm.show"} {
		c := u.Children[i]
		if c.Name != want || c.Local != strings.TrimPrefix(want, "arm.") || c.Use != u || c.Origin != u.Uses.Lib {
			t.Errorf("child %d: name %q local %q use %p origin %p", i, c.Name, c.Local, c.Use, c.Origin)
		}
		if pos := c.Origin.Source.Value(c.Path); c.Origin.File != filepath.Join(dir, "lib", "build.yaml") || pos.Line != 10+2*i {
			t.Errorf("child %d comes from %s:%d", i, c.Origin.File, pos.Line)
		}
	}
	if u.Uses.Lib.Dir != filepath.Join(dir, "lib") || len(u.Uses.Lib.Outputs) != 2 || u.Uses.Lib.Outputs[1].Description == "" {
		t.Errorf("library %+v", u.Uses.Lib)
	}
}

// TestPartial: a pipeline whose problems are all in tasks comes back as a
// *load.Partial with exactly those tasks (a group's child, not the group)
// marked Invalid, so that the others can still be prepared; a problem
// outside every task (a var) gives no pipeline, since every task depends
// on it.
func TestPartial(t *testing.T) {
	l := newLoader(t)
	const head = "apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\n"
	const tasks = `tasks:
  - name: a
    run: {command: [echo, "{{ .vars.nope }}"]}
  - name: g
    parallel:
      tasks:
        - name: c1
          run: {command: [echo], timout: 1s}
        - name: c2
          run: {command: [echo]}
  - name: b
    run: {command: [echo]}
`
	_, err := l.LoadBytes("p.yaml", []byte(head+tasks))
	var part *load.Partial
	if !errors.As(err, &part) {
		t.Fatalf("got %T %v, want *load.Partial", err, err)
	}
	invalid := map[string]bool{}
	for _, x := range part.Pipeline.AllTasks() {
		invalid[x.Name] = x.Invalid
	}
	want := map[string]bool{"a": true, "g": false, "c1": true, "c2": false, "b": false}
	for name, w := range want {
		if invalid[name] != w {
			t.Errorf("task %s: Invalid %v, want %v", name, invalid[name], w)
		}
	}

	_, err = l.LoadBytes("p.yaml", []byte(head+"vars:\n  n: {type: int, default: x}\n"+tasks))
	var errs *load.Errors
	if errors.As(err, &part) || !errors.As(err, &errs) || errs.Len() != 3 {
		t.Fatalf("a var's problem: got %T %v, want the 3 problems alone", err, err)
	}
}
