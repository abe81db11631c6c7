package runner_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// files writes name -> content under a new folder and returns it.
func files(t *testing.T, fs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range fs {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (h *harness) loadFile(t *testing.T, path string) *pipeline.Pipeline {
	t.Helper()
	l, err := load.New(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Load(path)
	if err != nil {
		t.Fatalf("pipeline does not load:\n%v", err)
	}
	return p
}

func outputs(res *runner.Result, name string) task.Outputs {
	for _, tr := range res.Tasks {
		if tr.Name == name {
			return tr.Outputs
		}
	}
	return nil
}

// A library: a param with a default computed from another, two tasks in
// order (the second reads the first by its name in the library), a
// parallel group, and an output.
const pairLib = `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: pair}
params:
  who: {type: string, required: true}
  n: {type: int, default: 1}
  label: "{{ .params.who }}#{{ .params.n }}"
tasks:
  - name: first
    fake: {id: "{{ .params.label }}-first", out: "hello {{ .params.label }}"}
  - name: both
    parallel:
      tasks:
        - name: left
          fake: {id: "{{ .params.label }}-left", out: "L {{ .tasks.first.value }}"}
        - name: right
          fake: {id: "{{ .params.label }}-right", out: "R {{ .params.n }}"}
  - name: last
    fake: {id: "{{ .params.label }}-last", out: "{{ .tasks.left.value }} / {{ .tasks.right.value }}"}
outputs:
  line: "{{ .tasks.last.value }}"
  first: {value: "{{ .tasks.first.value }}", description: what the first task said}
`

// TestUses: a library used twice with different params runs its tasks in
// order for each use, under names of their own; each use's tasks see their
// own params and each other's outputs by their library names; the uses
// task publishes the library's outputs; a library used by a library runs
// inside it.
func TestUses(t *testing.T) {
	h := newHarness()
	dir := files(t, map[string]string{
		"lib/pair.yaml": pairLib,
		"lib/outer.yaml": `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: outer}
params:
  who: {type: string}
tasks:
  - name: inner
    uses: pair.yaml
    with: {who: "inner-{{ .params.who }}", n: 3}
outputs:
  said: "{{ .tasks.inner.line }}"
`,
		"p.yaml": header + `
vars:
  name: ann
tasks:
  - name: a
    uses: lib/pair.yaml
    with: {who: "{{ .vars.name }}"}
  - name: b
    uses: lib/pair.yaml
    with: {who: bob, n: "{{ len .tasks.a.line }}"}
  - name: c
    uses: lib/outer.yaml
    with: {who: "{{ .tasks.b.first }}"}
  - name: after
    fake: {id: after, out: "{{ .tasks.a.line }} | {{ .tasks.b.line }} | {{ .tasks.c.said }}"}
`,
	})
	p := h.loadFile(t, filepath.Join(dir, "p.yaml"))
	res := runner.Run(context.Background(), p, h.opts())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var order []string
	for _, tr := range res.Tasks {
		order = append(order, tr.Index+" "+tr.Name+" "+tr.Status)
	}
	want := []string{
		"1.1 a.first ok", "1.2.1 a.left ok", "1.2.2 a.right ok", "1.2 a.both ok", "1.3 a.last ok", "1 a ok",
		"2.1 b.first ok", "2.2.1 b.left ok", "2.2.2 b.right ok", "2.2 b.both ok", "2.3 b.last ok", "2 b ok",
		"3.1.1 c.inner.first ok", "3.1.2.1 c.inner.left ok", "3.1.2.2 c.inner.right ok", "3.1.2 c.inner.both ok", "3.1.3 c.inner.last ok", "3.1 c.inner ok", "3 c ok",
		"4 after ok",
	}
	// Parallel children end in any order: compare as sets per group.
	if !sameSet(order, want) {
		t.Errorf("tasks ran:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	aLine := "L hello ann#1 / R 1"
	if got := outputs(res, "a")["line"]; got != aLine {
		t.Errorf("a.line = %q, want %q", got, aLine)
	}
	// b's n is computed from a's output: len(aLine) = 19.
	bLine := "L hello bob#19 / R 19"
	if got := outputs(res, "b")["line"]; got != bLine {
		t.Errorf("b.line = %q, want %q", got, bLine)
	}
	cLine := "L hello inner-hello bob#19#3 / R 3"
	if got := outputs(res, "after")["value"]; got != aLine+" | "+bLine+" | "+cLine {
		t.Errorf("after saw %q", got)
	}
	if got := outputs(res, "a")["first"]; got != "hello ann#1" {
		t.Errorf("a.first = %q", got)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestUsesFailure: the first failing task of a use stops the use (its
// later tasks are skipped) and the run; with continueOnError on the uses
// task the run goes on and later tasks read its status.
func TestUsesFailure(t *testing.T) {
	lib := `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: l}
params:
  fail: {type: bool, default: false}
tasks:
  - name: one
    fake: {id: one, fatalIf: "{{ .params.fail }}"}
  - name: two
    fake: {id: two}
outputs:
  o: "{{ .tasks.two.value }}"
`
	for _, tc := range []struct {
		name, extra string
		wantErr     bool
		want        map[string]string
	}{
		{"stops", "", true, map[string]string{"u.one": "failed", "u.two": "skipped", "u": "failed", "next": "skipped"}},
		{"continues", "\n    continueOnError: true", false, map[string]string{"u.one": "failed", "u.two": "skipped", "u": "failed", "next": "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			dir := files(t, map[string]string{"l.yaml": lib, "p.yaml": header + `
tasks:
  - name: u
    uses: l.yaml
    with: {fail: true}` + tc.extra + `
  - name: next
    fake: {id: next, out: "{{ .tasks.u.status }}: {{ .tasks.u.error }}"}
`})
			res := runner.Run(context.Background(), h.loadFile(t, filepath.Join(dir, "p.yaml")), h.opts())
			if (res.Err != nil) != tc.wantErr {
				t.Fatalf("err = %v", res.Err)
			}
			s := statuses(res)
			for name, st := range tc.want {
				if s[name] != st {
					t.Errorf("%s: %q, want %q (all: %v)", name, s[name], st, s)
				}
			}
			if h.fake.attempts("two") != 0 {
				t.Errorf("task two ran after one failed")
			}
			if !tc.wantErr {
				if got := outputs(res, "next")["value"]; !strings.HasPrefix(got.(string), "failed: ") || !strings.Contains(got.(string), "fatal failure of one") {
					t.Errorf("next saw %q", got)
				}
			}
		})
	}
}

// TestUsesMatrix: a uses task with a matrix runs one use per cell, each
// with its own tasks and outputs.
func TestUsesMatrix(t *testing.T) {
	h := newHarness()
	dir := files(t, map[string]string{"lib/pair.yaml": pairLib, "p.yaml": header + `
tasks:
  - name: m
    matrix: {who: [x, y]}
    uses: lib/pair.yaml
    with: {who: "{{ .matrix.who }}"}
  - name: after
    fake: {id: after, out: '{{ range .tasks.m.cells }}{{ .name }}={{ .line }};{{ end }}'}
`})
	res := runner.Run(context.Background(), h.loadFile(t, filepath.Join(dir, "p.yaml")), h.opts())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s := statuses(res)
	for _, n := range []string{"m[x]", "m.first[x]", "m.left[x]", "m.last[y]", "m[y]"} {
		if s[n] != "ok" {
			t.Errorf("%s: %q (all %v)", n, s[n], s)
		}
	}
	want := "m[x]=L hello x#1 / R 1;m[y]=L hello y#1 / R 1;"
	if got := outputs(res, "after")["value"]; got != want {
		t.Errorf("after saw %q, want %q", got, want)
	}
}

// TestUsesSecrets: a secret var given to a library stays masked in what
// the library's tasks print and publish, also as a library template
// transforms it (a value computed from a secret param is masked whole); so
// does a param the library declares secret.
func TestUsesSecrets(t *testing.T) {
	const secret, own = "hunter2-s3cret", "library-own-pw"
	h := newHarness()
	dir := files(t, map[string]string{
		"l.yaml": `apiVersion: kbrun.dev/v1alpha1
kind: Tasks
metadata: {name: l}
params:
  pw: {type: string}
  mine: {default: ` + own + `, secret: true}
tasks:
  - name: use
    fake: {id: use, print: "pw={{ .params.pw }} b64={{ .params.pw | b64enc }} mine={{ .params.mine }}", out: "{{ .params.pw | b64enc }}"}
`,
		"p.yaml": header + `
vars:
  token: {default: ` + secret + `, secret: true}
tasks:
  - name: u
    uses: l.yaml
    with: {pw: "{{ .vars.token }}"}
`,
	})
	p := h.loadFile(t, filepath.Join(dir, "p.yaml"))
	var text bytes.Buffer
	o := h.opts()
	o.Reporter = report.Multi{report.NewText(&text, nil), report.NewJSON(&text)}
	if res := runner.Run(context.Background(), p, o); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, leak := range []string{secret, own, base64.StdEncoding.EncodeToString([]byte(secret))} {
		if strings.Contains(text.String(), leak) {
			t.Errorf("output shows %q:\n%s", leak, text.String())
		}
	}
	// A value a library computes from a secret param is masked whole.
	if !strings.Contains(text.String(), `"line":"***"`) || !strings.Contains(text.String(), `"value":"***"`) {
		t.Errorf("output has no masks:\n%s", text.String())
	}
}

// TestUsesPlan: the plan shows each use expanded, every task of a library
// with the file and line it comes from, the params the use gives, and
// stand-ins for outputs that exist only at run time.
func TestUsesPlan(t *testing.T) {
	h := newHarness()
	dir := files(t, map[string]string{"lib/pair.yaml": pairLib, "p.yaml": header + `
tasks:
  - name: pre
    fake: {id: pre, out: x}
  - name: a
    uses: lib/pair.yaml
    with: {who: "{{ .tasks.pre.value }}", n: 2}
  - name: after
    fake: {id: after, out: "{{ .tasks.a.line }}"}
`})
	p := h.loadFile(t, filepath.Join(dir, "p.yaml"))
	rec := &report.Recorder{}
	o := h.opts()
	o.DryRun, o.Reporter = task.DryRunClient, rec
	if res := runner.Run(context.Background(), p, o); res.Err != nil {
		t.Fatal(res.Err)
	}
	var got []string
	for _, e := range rec.Events() {
		if e.Type == report.TaskPlan {
			got = append(got, e.Index+" "+e.Task+" ["+e.Reason+"] "+e.Describe)
		}
	}
	lib := filepath.Join(dir, "lib", "pair.yaml")
	want := []string{
		"1 pre [] fake pre out=x",
		"2 a [] run the 3 tasks of " + lib + " in order: first, both, last",
		"2.1 a.first [from " + lib + ":9] fake <tasks.pre.value>#2-first out=hello <tasks.pre.value>#2",
		"2.2 a.both [from " + lib + ":11] run 2 tasks in parallel",
		"2.2.1 a.left [from " + lib + ":14] fake <tasks.pre.value>#2-left out=L <tasks.a.first.value>",
		"2.2.2 a.right [from " + lib + ":16] fake <tasks.pre.value>#2-right out=R 2",
		"2.3 a.last [from " + lib + ":18] fake <tasks.pre.value>#2-last out=<tasks.a.left.value> / <tasks.a.right.value>",
		"3 after [] fake after out=<tasks.a.line>",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range rec.Events() {
		if e.Task == "a" && e.Type == report.TaskPlan {
			params, _ := e.Params.(map[string]any)["params"].(map[string]any)
			if params["who"] != "<tasks.pre.value>" || params["n"] != int64(2) || params["label"] != "<tasks.pre.value>#2" {
				t.Errorf("plan params %v", params)
			}
		}
	}
}
