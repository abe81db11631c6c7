package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
	"github.com/kbrun/kbrun/tasks/run"
)

const header = `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: t}
`

type harness struct {
	fake   *fake
	reg    *task.Registry
	rec    *report.Recorder
	sleeps []time.Duration
}

func newHarness() *harness {
	f := newFake()
	return &harness{fake: f, reg: task.NewRegistry(f, run.Type{}), rec: &report.Recorder{}}
}

func (h *harness) load(t *testing.T, body string) *pipeline.Pipeline {
	t.Helper()
	l, err := load.New(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.LoadBytes("test.yaml", []byte(header+body))
	if err != nil {
		t.Fatalf("pipeline does not load:\n%v", err)
	}
	return p
}

func (h *harness) opts() runner.Options {
	return runner.Options{
		Registry: h.reg,
		Reporter: h.rec,
		RunID:    "20000101000000-0000",
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.sleeps = append(h.sleeps, d)
			return ctx.Err()
		},
		Rand: func() float64 { return 0.5 }, // jitter factor 1
	}
}

func (h *harness) run(t *testing.T, body string, mod func(*runner.Options)) *runner.Result {
	t.Helper()
	p := h.load(t, body)
	o := h.opts()
	if mod != nil {
		mod(&o)
	}
	return runner.Run(context.Background(), p, o)
}

// statuses maps task name to its final status.
func statuses(res *runner.Result) map[string]string {
	out := map[string]string{}
	for _, tr := range res.Tasks {
		out[tr.Name] = tr.Status
	}
	return out
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name         string
		task         string
		wantStatus   string
		wantAttempts int
		wantSleeps   []time.Duration
		wantErr      string
	}{
		{"succeeds first time", `{id: a}`, "ok", 1, nil, ""},
		{"retryable twice then ok", `{id: a, failTimes: 2}`, "ok", 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, ""},
		{"gives up after attempts", `{id: a, failTimes: 9}`, "failed", 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, "gave up after 3 attempts: transient failure 3 of a"},
		{"fatal is not retried", `{id: a, fatal: true}`, "failed", 1, nil, "fatal failure of a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			res := h.run(t, `
defaults: {retry: {attempts: 3, backoff: 100ms, maxBackoff: 1s, jitter: 0.3}}
tasks:
  - name: a
    fake: `+tc.task+"\n", nil)
			tr := res.Tasks[0]
			if tr.Status != tc.wantStatus || tr.Attempts != tc.wantAttempts || h.fake.attempts("a") != tc.wantAttempts {
				t.Errorf("status %s attempts %d (calls %d), want %s %d", tr.Status, tr.Attempts, h.fake.attempts("a"), tc.wantStatus, tc.wantAttempts)
			}
			if !slices.Equal(h.sleeps, tc.wantSleeps) {
				t.Errorf("sleeps %v, want %v", h.sleeps, tc.wantSleeps)
			}
			if tc.wantErr == "" && res.Err != nil || tc.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", res.Err, tc.wantErr)
			}
			retries := 0
			for _, e := range h.rec.Events() {
				if e.Type == report.TaskRetry {
					retries++
					if e.MaxAttempts != 3 || e.Error == "" {
						t.Errorf("retry event lacks attempts or reason: %+v", e)
					}
				}
			}
			if retries != len(tc.wantSleeps) {
				t.Errorf("%d retry events, want %d", retries, len(tc.wantSleeps))
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0.5, time.Second},
		{2, 0.5, 2 * time.Second},
		{3, 0.5, 4 * time.Second},
		{5, 0.5, 10 * time.Second}, // capped
		{1, 0, 800 * time.Millisecond},
		{1, 1, 1200 * time.Millisecond},
	}
	pol := pipeline.Retry{Attempts: 9, Backoff: time.Second, MaxBackoff: 10 * time.Second, Jitter: 0.2}
	for _, tc := range tests {
		got := runner.Backoff(pol, tc.attempt, func() float64 { return tc.rnd })
		if got != tc.want {
			t.Errorf("backoff(attempt %d, rnd %v) = %v, want %v", tc.attempt, tc.rnd, got, tc.want)
		}
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("task timeout stops the task and the run", func(t *testing.T) {
		h := newHarness()
		res := h.run(t, `
tasks:
  - name: slow
    timeout: 50ms
    fake: {id: slow, sleep: 10s}
  - name: after
    fake: {id: after}
finally:
  - name: fin
    fake: {id: fin}
`, nil)
		st := statuses(res)
		if st["slow"] != "failed" || st["after"] != "skipped" || st["fin"] != "ok" {
			t.Fatalf("statuses %v", st)
		}
		if res.Err == nil || !strings.Contains(res.Err.Error(), "timed out after 50ms") || exit.Code(res.Err) != exit.TaskFailed {
			t.Fatalf("err %v (code %d)", res.Err, exit.Code(res.Err))
		}
		if res.Duration > 5*time.Second {
			t.Fatalf("the timeout did not bound the task: run took %v", res.Duration)
		}
	})
	t.Run("timeout keeps what the task was waiting for", func(t *testing.T) {
		h := newHarness()
		res := h.run(t, `
tasks:
  - name: slow
    timeout: 30ms
    fake: {id: slow, sleep: 10s, waitingFor: "pod p is Ready; now: ContainerCreating"}
`, nil)
		want := "timed out after 30ms (attempt 1): timed out (context deadline exceeded) waiting until pod p is Ready; now: ContainerCreating"
		if res.Err == nil || !strings.Contains(res.Err.Error(), want) {
			t.Fatalf("err %v\nwant it to hold %q", res.Err, want)
		}
	})
	t.Run("templated timeout", func(t *testing.T) {
		h := newHarness()
		res := h.run(t, `
vars: {limit: 30ms}
tasks:
  - name: slow
    timeout: "{{ .vars.limit }}"
    fake: {id: slow, sleep: 10s}
`, nil)
		if res.Err == nil || !strings.Contains(res.Err.Error(), "timed out after 30ms") {
			t.Fatalf("err %v", res.Err)
		}
	})
	t.Run("run timeout", func(t *testing.T) {
		h := newHarness()
		res := h.run(t, `
tasks:
  - name: slow
    fake: {id: slow, sleep: 10s}
  - name: after
    fake: {id: after}
finally:
  - name: fin
    fake: {id: fin}
`, func(o *runner.Options) { o.Timeout = 50 * time.Millisecond })
		st := statuses(res)
		if st["slow"] != "failed" || st["after"] != "skipped" || st["fin"] != "ok" {
			t.Fatalf("statuses %v", st)
		}
		if res.Err == nil || !strings.Contains(res.Err.Error(), "run timeout of 50ms exceeded") {
			t.Fatalf("err %v", res.Err)
		}
	})
}

func TestFinally(t *testing.T) {
	body := `
tasks:
  - name: a
    fake: {id: a, sleep: %s, fatal: %v}
finally:
  - name: f1
    fake: {id: f1, fatal: true}
  - name: f2
    fake: {id: f2}
`
	tests := []struct {
		name     string
		sleep    string
		fatal    bool
		cancel   bool
		keep     bool
		wantCode int
		wantF2   string
	}{
		{"after success", "0s", false, false, false, exit.TaskFailed, "ok"}, // f1 fails: the run fails
		{"after failure", "0s", true, false, false, exit.TaskFailed, "ok"},
		{"after interruption", "10s", false, true, false, exit.Interrupted, "ok"},
		{"skipped with keep", "0s", false, false, true, exit.OK, "skipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			p := h.load(t, sprintf(body, tc.sleep, tc.fatal))
			o := h.opts()
			o.Keep = tc.keep
			ctx, cancel := context.WithCancelCause(context.Background())
			if tc.cancel {
				// Interrupted once a has started.
				o.Reporter = report.Multi{h.rec, report.Func(func(e report.Event) {
					if e.Type == report.TaskStart && e.Task == "a" {
						cancel(&exit.InterruptedError{Signal: "SIGINT"})
					}
				})}
			}
			defer cancel(nil)
			res := runner.Run(ctx, p, o)
			if got := exit.Code(res.Err); got != tc.wantCode {
				t.Errorf("exit code %d, want %d (err %v)", got, tc.wantCode, res.Err)
			}
			st := statuses(res)
			if st["f2"] != tc.wantF2 {
				t.Errorf("f2 %s, want %s (every finally task runs even after one fails)", st["f2"], tc.wantF2)
			}
			if !tc.keep && h.fake.attempts("f1") != 1 {
				t.Errorf("f1 ran %d times, want once (no retry of fatal errors)", h.fake.attempts("f1"))
			}
		})
	}
}

func sprintf(format string, args ...any) string {
	return strings.NewReplacer("%s", toString(args[0]), "%v", toString(args[1])).Replace(format)
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	return strings.Trim(s, `"`)
}

func TestSelection(t *testing.T) {
	body := `
tasks:
  - name: a
    fake: {id: a}
  - name: g
    parallel:
      tasks:
        - name: b
          fake: {id: b}
        - name: c
          fake: {id: c}
  - name: d
    fake: {id: d}
finally:
  - name: f
    fake: {id: f}
`
	tests := []struct {
		name string
		mod  func(*runner.Options)
		ran  []string
	}{
		{"all", nil, []string{"a", "b", "c", "d", "f"}},
		{"only", func(o *runner.Options) { o.Only = []string{"d"} }, []string{"d", "f"}},
		{"only a child", func(o *runner.Options) { o.Only = []string{"c"} }, []string{"c", "f"}},
		{"from", func(o *runner.Options) { o.From = "g" }, []string{"b", "c", "d", "f"}},
		{"skip", func(o *runner.Options) { o.Skip = []string{"a", "b"} }, []string{"c", "d", "f"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			res := h.run(t, body, tc.mod)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			for _, id := range []string{"a", "b", "c", "d", "f"} {
				want := 0
				for _, r := range tc.ran {
					if r == id {
						want = 1
					}
				}
				if got := h.fake.attempts(id); got != want {
					t.Errorf("task %s ran %d times, want %d", id, got, want)
				}
			}
		})
	}
	t.Run("unknown name is a usage error", func(t *testing.T) {
		h := newHarness()
		res := h.run(t, body, func(o *runner.Options) { o.Only = []string{"nope"} })
		if exit.Code(res.Err) != exit.Invalid || h.fake.attempts("a") != 0 {
			t.Fatalf("err %v code %d", res.Err, exit.Code(res.Err))
		}
	})
}

func TestOutputsFlow(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
vars: {suffix: "!"}
tasks:
  - name: first
    fake: {id: first, out: hello}
  - name: g
    parallel:
      tasks:
        - name: left
          fake: {id: left, out: "{{ .tasks.first.value }} left"}
        - name: right
          fake: {id: right, out: "{{ .tasks.first.value }} right"}
  - name: last
    fake: {id: last, out: "{{ .tasks.left.value }}/{{ .tasks.right.value }}{{ .vars.suffix }}"}
  - name: cond
    when: "{{ eq .tasks.first.value \"nope\" }}"
    fake: {id: cond}
`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var last task.Outputs
	for _, tr := range res.Tasks {
		if tr.Name == "last" {
			last = tr.Outputs
		}
	}
	if last["value"] != "hello left/hello right!" {
		t.Errorf("last.value = %q", last["value"])
	}
	if statuses(res)["cond"] != "skipped" || h.fake.attempts("cond") != 0 {
		t.Errorf("when false should skip")
	}
}

func TestParallelFailFast(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: g
    parallel:
      tasks:
        - name: bad
          fake: {id: bad, fatal: true}
        - name: slow
          fake: {id: slow, sleep: 10s}
  - name: after
    fake: {id: after}
`, nil)
	st := statuses(res)
	// slow is cancelled while it runs (failed) or before it starts (skipped).
	if st["bad"] != "failed" || (st["slow"] != "failed" && st["slow"] != "skipped") || st["g"] != "failed" || st["after"] != "skipped" {
		t.Fatalf("statuses %v", st)
	}
	if res.Duration > 5*time.Second {
		t.Fatalf("sibling was not cancelled: %v", res.Duration)
	}
	var te *exit.TaskError
	if !errors.As(res.Err, &te) || te.Task != "g" {
		t.Fatalf("err %v", res.Err)
	}
}

func TestContinueOnError(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: bad
    continueOnError: true
    fake: {id: bad, fatal: true}
  - name: good
    fake: {id: good}
`, nil)
	if res.Err != nil || statuses(res)["good"] != "ok" || statuses(res)["bad"] != "failed" {
		t.Fatalf("err %v statuses %v", res.Err, statuses(res))
	}
}

// TestSecretsMasked checks that a secret var's value never reaches the
// text, JSON or JUnit output, whether it comes from the task's parameters,
// its output lines, its outputs or its error.
func TestSecretsMasked(t *testing.T) {
	const secret = "hunter2-s3cret"
	h := newHarness()
	p := h.load(t, `
vars:
  token: {default: `+secret+`, secret: true}
tasks:
  - name: leak
    fake: {id: leak, print: "token is {{ .vars.token }}", out: "{{ .vars.token }}"}
  - name: fail
    fake: {id: fail, fatal: true, out: "{{ .vars.token }}"}
`)
	var text, js, junitOut bytes.Buffer
	junit := report.NewJUnit()
	o := h.opts()
	o.Reporter = report.Multi{report.NewText(&text, []string{"leak", "fail"}), report.NewJSON(&js), junit}
	res := runner.Run(context.Background(), p, o)
	if res.Err == nil {
		t.Fatal("expected failure")
	}
	if err := junit.Write(&junitOut); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "json": js.String(), "junit": junitOut.String()} {
		if strings.Contains(out, secret) {
			t.Errorf("%s output shows the secret:\n%s", name, out)
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s output has no mask:\n%s", name, out)
		}
	}
	// The task itself still got the real value.
	if res.Tasks[0].Outputs["value"] != secret {
		t.Errorf("task did not receive the secret value")
	}
	// Plans are masked too.
	var plan bytes.Buffer
	o = h.opts()
	o.DryRun = task.DryRunClient
	o.Reporter = report.NewText(&plan, nil)
	runner.Run(context.Background(), p, o)
	if strings.Contains(plan.String(), secret) || !strings.Contains(plan.String(), "***") {
		t.Errorf("plan shows the secret:\n%s", plan.String())
	}
}

func TestDryRunPlaceholders(t *testing.T) {
	h := newHarness()
	var out bytes.Buffer
	p := h.load(t, `
vars: {ns: team}
tasks:
  - name: first
    fake: {id: first, out: "in {{ .vars.ns }}"}
  - name: second
    fake: {id: second, out: "got {{ .tasks.first.value }} ({{ .pipeline.runId }})"}
`)
	o := h.opts()
	o.DryRun = task.DryRunClient
	o.Reporter = report.NewText(&out, nil)
	res := runner.Run(context.Background(), p, o)
	if res.Err != nil || h.fake.attempts("first")+h.fake.attempts("second") != 0 {
		t.Fatalf("dry run ran something: err %v", res.Err)
	}
	for _, want := range []string{"fake first out=in team", "fake second out=got <tasks.first.value> (20000101000000-0000)", "Plan OK: nothing was run."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
}

func TestVars(t *testing.T) {
	h := newHarness()
	p := h.load(t, `
vars:
  c: "{{ .vars.b }}-c"
  b: "{{ .vars.a }}-b"
  a: a
  list: [x, "{{ .vars.a }}"]
tasks:
  - name: t
    fake: {id: t}
`)
	vs, err := vars.Resolve(p, map[string]any{"a": "{{ not rendered }}"}, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if vs["c"] != "{{ not rendered }}-b-c" {
		t.Errorf("c = %q: overrides are literal and vars resolve in dependency order", vs["c"])
	}
	if l, _ := vs["list"].([]any); len(l) != 2 || l[1] != "{{ not rendered }}" {
		t.Errorf("list = %v", vs["list"])
	}
}

// TestArgvInjection: values full of shell and YAML specials reach a
// command as exactly one argument each; no shell ever sees them.
func TestArgvInjection(t *testing.T) {
	dir := t.TempDir()
	evil := "x; touch " + dir + "/m1\n$(touch " + dir + "/m2) `touch " + dir + "/m3` 'q\" - a: b # c"
	h := newHarness()
	res := h.run(t, `
vars:
  evil: "placeholder"
tasks:
  - name: echo
    run: {command: [printf, "%s|%s", "{{ .vars.evil }}", "{{ .vars.evil }}"]}
  - name: again
    run: {command: [printf, "%s", "{{ .tasks.echo.stdout }}"]}
`, func(o *runner.Options) { o.Overrides = map[string]any{"evil": evil} })
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := res.Tasks[0].Outputs["stdout"]; got != evil+"|"+evil {
		t.Errorf("argv changed: %q", got)
	}
	if got := res.Tasks[1].Outputs["stdout"]; got != evil+"|"+evil {
		t.Errorf("output flowing into argv changed: %q", got)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		if _, err := os.Stat(dir + "/" + m); err == nil {
			t.Errorf("%s exists: a shell ran the value", m)
		}
	}
}

// TestManifestInjection: a manifest where a value pasted raw changed the
// YAML structure is refused when the task is prepared (before anything
// runs, at the manifest's own file), and accepted quoted.
func TestManifestInjection(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.yaml")
	quoted := filepath.Join(dir, "quoted.yaml")
	os.WriteFile(raw, []byte("securityContext:\n  runAsUser: {{ .vars.v }}\n"), 0o644)
	os.WriteFile(quoted, []byte("securityContext:\n  note: {{ .vars.v | quote }}\n"), 0o644)
	var got string
	h := newHarness()
	h.reg = task.NewRegistry(h.fake, run.Type{}, renderType{got: &got})
	p := h.load(t, `
vars: {v: "0\n  privileged: true"}
tasks:
  - name: r
    render: {file: `+raw+`}
`)
	res := runner.Run(context.Background(), p, h.opts())
	if exit.Code(res.Err) != exit.Invalid || !strings.Contains(res.Err.Error(), "raw.yaml:1:1: ") || !strings.Contains(res.Err.Error(), ".vars.v") {
		t.Errorf("injection not refused at the manifest: %v", res.Err)
	}
	res = h.run(t, `
vars: {v: "0\n  privileged: true"}
tasks:
  - name: r
    render: {file: `+quoted+`}
`, nil)
	if res.Err != nil || !strings.Contains(got, `"0\n  privileged: true"`) {
		t.Errorf("quoted value refused or changed: %v %q", res.Err, got)
	}
}

// renderType reads the manifest file its params name through the engine.
type renderType struct{ got *string }

func (renderType) Name() string            { return "render" }
func (renderType) Summary() string         { return "test" }
func (renderType) Schema() json.RawMessage { return json.RawMessage(`{"type":"object"}`) }
func (renderType) Outputs() []string       { return nil }
func (r renderType) Prepare(p task.Params) (task.Action, error) {
	var params struct {
		File string `json:"file"`
	}
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	files, err := p.Manifests.Read(params.File, true)
	if err != nil {
		return nil, err
	}
	*r.got = files[0].Text
	return renderAction{}, nil
}

type renderAction struct{}

func (renderAction) Describe() string { return "render" }
func (renderAction) Run(context.Context, *task.Env) (task.Outputs, error) {
	return nil, nil
}

// TestRequestRetryEvents: a request repeated inside a task shows in the
// run's events.
func TestRequestRetryEvents(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: a
    fake: {id: a, notice: true}
`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	n := 0
	for _, e := range h.rec.Events() {
		if e.Type == report.RequestRetry && e.Task == "a" && e.Attempt == 1 && strings.Contains(e.Error, "503") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d request.retry events, want 1", n)
	}
}

// TestPlanRunTimeValues: in a plan, a when that computes with an output
// known only at run time is "decided at run time" (never shown as skipped),
// and so is a value computed from one (an index, a function); an output
// printed as it is shows as its stand-in.
func TestPlanRunTimeValues(t *testing.T) {
	h := newHarness()
	body := `
tasks:
  - name: ping
    fake: {id: p, out: "false,x"}
  - name: cond
    when: '{{ eq .tasks.ping.value "true" }}'
    fake: {id: c}
  - name: first
    fake: {id: f, out: '{{ index (splitList "," .tasks.ping.value) 0 }}'}
  - name: direct
    fake: {id: d, out: 'got {{ .tasks.ping.value }}'}
`
	res := h.run(t, body, func(o *runner.Options) { o.DryRun = task.DryRunClient })
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	plan := map[string]report.Event{}
	for _, e := range h.rec.Events() {
		if e.Type == report.TaskPlan {
			plan[e.Task] = e
		}
	}
	if e := plan["cond"]; e.Status != report.StatusPlanned || !strings.Contains(e.Reason, `runs only when {{ eq .tasks.ping.value "true" }} (decided at run time)`) {
		t.Errorf("cond: status %q reason %q", e.Status, e.Reason)
	}
	if got := plan["first"].Describe; got != "fake f out="+task.RunTime {
		t.Errorf("first: %q, want the value decided at run time", got)
	}
	if got := plan["direct"].Describe; got != "fake d out=got <tasks.ping.value>" {
		t.Errorf("direct: %q", got)
	}

	// The run decides: ping's value is "false,x", so cond is skipped and
	// first gets "false".
	h = newHarness()
	res = h.run(t, body, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if s := statuses(res); s["cond"] != "skipped" || s["first"] != "ok" {
		t.Errorf("statuses %v", s)
	}
	for _, tr := range res.Tasks {
		if tr.Name == "first" && tr.Outputs["value"] != "false" {
			t.Errorf("first = %v", tr.Outputs["value"])
		}
	}
}

// TestEndedTasksHaveStatus: every task that ended has .status and .error,
// so a later task can branch on a failure it was allowed to have.
func TestEndedTasksHaveStatus(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: flaky
    continueOnError: true
    fake: {id: f, fatal: true}
  - name: skipped
    when: "false"
    fake: {id: s}
  - name: after
    when: '{{ ne .tasks.flaky.status "ok" }}'
    fake: {id: a, out: '{{ .tasks.flaky.status }}: {{ .tasks.flaky.error }}; {{ .tasks.skipped.status }}'}
`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, tr := range res.Tasks {
		if tr.Name == "after" {
			if tr.Status != "ok" || tr.Outputs["value"] != "failed: fatal failure of f; skipped" {
				t.Fatalf("after: %s %v", tr.Status, tr.Outputs["value"])
			}
			return
		}
	}
	t.Fatal("after did not run")
}

// TestSkippedOutputsRefused: a task that uses an output of a task the
// values make skip is refused before anything runs, as the run would fail.
func TestSkippedOutputsRefused(t *testing.T) {
	h := newHarness()
	p := h.load(t, `
vars: {on: false}
tasks:
  - name: maybe
    when: "{{ .vars.on }}"
    fake: {id: m, out: x}
  - name: uses
    fake: {id: u, out: "{{ .tasks.maybe.value }}"}
`)
	res := runner.Run(context.Background(), p, h.opts())
	if exit.Code(res.Err) != exit.Invalid || !strings.Contains(res.Err.Error(), `test.yaml:11:24: tasks[1].fake.out:`) || !strings.Contains(res.Err.Error(), `task "maybe" is skipped`) {
		t.Fatalf("got %v", res.Err)
	}
	if h.fake.attempts("m") != 0 {
		t.Fatal("a task ran")
	}
}

// TestMatrix: a matrix task runs once per cell of the cross product, each
// cell named after its values, at most maxParallel at once; a failing cell
// of a continueOnError matrix is data in .tasks.NAME.cells, and later tasks
// read every cell.
func TestMatrix(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
vars:
  sets: [seed, dac]
tasks:
  - name: build
    matrix:
      caps: "{{ .vars.sets }}"
      kind: [copy, multi, run]
    maxParallel: 2
    continueOnError: true
    fake: {id: "{{ .matrix.caps }}-{{ .matrix.kind }}", out: "{{ .matrix.kind }} under {{ .matrix.caps }}", hold: 2, fatalIf: '{{ and (eq .matrix.caps "seed") (eq .matrix.kind "multi") }}'}
  - name: table
    fake: {id: table, out: '{{ range .tasks.build.cells }}{{ .name }}={{ .status }};{{ end }}'}
`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s := statuses(res)
	for _, name := range []string{"build[seed,copy]", "build[seed,run]", "build[dac,copy]", "build[dac,multi]", "build[dac,run]"} {
		if s[name] != "ok" {
			t.Errorf("%s: %q", name, s[name])
		}
	}
	if s["build[seed,multi]"] != "failed" || s["build"] != "failed" || s["table"] != "ok" {
		t.Errorf("statuses %v", s)
	}
	if h.fake.peak != 2 {
		t.Errorf("%d cells ran at once, want maxParallel 2", h.fake.peak)
	}
	for _, tr := range res.Tasks {
		if tr.Name == "table" {
			want := "build[seed,copy]=ok;build[seed,multi]=failed;build[seed,run]=ok;build[dac,copy]=ok;build[dac,multi]=ok;build[dac,run]=ok;"
			if tr.Outputs["value"] != want {
				t.Errorf("cells seen by a later task:\n%v\nwant\n%s", tr.Outputs["value"], want)
			}
		}
	}
}

// TestMatrixPlanAndGroup: the plan lists every cell (of a matrix group:
// every child of every cell) with its values rendered.
func TestMatrixPlanAndGroup(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: per
    matrix: {env: [dev, prod]}
    parallel:
      tasks:
        - name: deploy
          fake: {id: "d-{{ .matrix.env }}", out: "deploy to {{ .matrix.env }}"}
        - name: check
          fake: {id: "c-{{ .matrix.env }}", out: "check {{ .matrix.env }}"}
`, func(o *runner.Options) { o.DryRun = task.DryRunClient })
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var lines []string
	for _, e := range h.rec.Events() {
		if e.Type == report.TaskPlan {
			lines = append(lines, e.Index+" "+e.Task+": "+e.Describe)
		}
	}
	want := []string{
		"1 per: run 2 cells of the matrix env, all at once",
		"1.1 per[dev]: run 2 tasks in parallel",
		"1.1.1 deploy[dev]: fake d-dev out=deploy to dev",
		"1.1.2 check[dev]: fake c-dev out=check dev",
		"1.2 per[prod]: run 2 tasks in parallel",
		"1.2.1 deploy[prod]: fake d-prod out=deploy to prod",
		"1.2.2 check[prod]: fake c-prod out=check prod",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	h = newHarness()
	res = h.run(t, `
tasks:
  - name: per
    matrix: {env: [dev, prod]}
    parallel:
      tasks:
        - name: deploy
          fake: {id: "d-{{ .matrix.env }}", out: "deploy to {{ .matrix.env }}"}
  - name: after
    fake: {id: a, out: '{{ (index .tasks.per.cells 1).deploy.value }}'}
`, nil)
	for _, tr := range res.Tasks {
		if tr.Name == "after" && tr.Outputs["value"] != "deploy to prod" {
			t.Errorf("after = %v", tr.Outputs["value"])
		}
	}
}

// TestMatrixErrors: bad matrices are refused before anything runs, at
// their place in the file.
func TestMatrixErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`
tasks:
  - name: a
    fake: {id: "{{ .matrix.x }}"}
`, `test.yaml:7:16: tasks[0].fake.id: template uses .matrix.x, but task "a" has no matrix`},
		{`
tasks:
  - name: a
    matrix: {x: [1, 2]}
    fake: {id: "{{ .matrix.y }}"}
`, `test.yaml:8:16: tasks[0].fake.id: the matrix has no key "y" (.matrix.y); it has: x`},
		{`
tasks:
  - name: a
    maxParallel: 2
    fake: {id: a}
`, `test.yaml:7:5: tasks[0].maxParallel: maxParallel goes with matrix`},
		{`
tasks:
  - name: a
    matrix: {x: [1]}
    when: "{{ .matrix.x }}"
    fake: {id: a}
`, `test.yaml:8:11: tasks[0].when: .matrix.x is not known yet here`},
		{`
tasks:
  - name: g
    matrix: {x: [1]}
    parallel:
      tasks:
        - name: c
          matrix: {y: [1]}
          fake: {id: c}
`, `test.yaml:11:11: tasks[0].parallel.tasks[0].matrix: task "c" is inside a matrix group`},
	} {
		h := newHarness()
		l, _ := load.New(h.reg)
		_, err := l.LoadBytes("test.yaml", []byte(header+tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
	h := newHarness()
	p := h.load(t, `
vars: {dims: "a b"}
tasks:
  - name: a
    matrix: {x: "{{ .vars.dims }}"}
    fake: {id: "{{ .matrix.x }}"}
`)
	res := runner.Run(context.Background(), p, h.opts())
	if exit.Code(res.Err) != exit.Invalid || !strings.Contains(res.Err.Error(), `test.yaml:8:17: tasks[0].matrix.x: renders to "a b", not a non-empty list`) {
		t.Errorf("got %v", res.Err)
	}
}

// TestMatrixUntil: a ladder (maxParallel 1) stops at the first cell that
// meets until; the cells after it do not start, and say why.
func TestMatrixUntil(t *testing.T) {
	h := newHarness()
	res := h.run(t, `
tasks:
  - name: ladder
    matrix: {caps: [none, seed, dac, all]}
    maxParallel: 1
    continueOnError: true
    until: '{{ eq .cell.status "ok" }}'
    fake: {id: "{{ .matrix.caps }}", fatalIf: '{{ has .matrix.caps (list "none" "seed") }}'}
  - name: verdict
    fake: {id: v, out: '{{ range .tasks.ladder.cells }}{{ if eq .status "ok" }}needs {{ .matrix.caps }}{{ end }}{{ end }}'}
`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s := statuses(res)
	if s["ladder[none]"] != "failed" || s["ladder[seed]"] != "failed" || s["ladder[dac]"] != "ok" || s["ladder[all]"] != "skipped" {
		t.Errorf("statuses %v", s)
	}
	if h.fake.attempts("all") != 0 {
		t.Error("a cell after the one that met until ran")
	}
	for _, tr := range res.Tasks {
		if tr.Name == "verdict" && tr.Outputs["value"] != "needs dac" {
			t.Errorf("verdict %v", tr.Outputs["value"])
		}
	}
}

// A broken output stream (found when an event is written) stops what is
// still to run, exit 141; found once every task has ended, it leaves the
// result green. Finally runs either way.
func TestBrokenStreamKeepsAGreenRunGreen(t *testing.T) {
	body := `
tasks:
  - {name: a, fake: {id: a}}
  - {name: b, fake: {id: b}}
finally:
  - {name: f, fake: {id: f}}
`
	for _, tc := range []struct {
		breakAt  string
		wantCode int
		wantB    string
	}{
		{"a", 141, report.StatusSkipped},
		{"b", exit.OK, report.StatusOK},
	} {
		t.Run("after "+tc.breakAt, func(t *testing.T) {
			h := newHarness()
			p := h.load(t, body)
			o := h.opts()
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o.Reporter = report.Func(func(e report.Event) {
				if e.Type == report.TaskEnd && e.Task == tc.breakAt {
					cancel(&exit.InterruptedError{Signal: "SIGPIPE", Number: 13, Stream: true})
				}
			})
			res := runner.Run(ctx, p, o)
			if got := exit.Code(res.Err); got != tc.wantCode {
				t.Errorf("exit %d, want %d (%v)", got, tc.wantCode, res.Err)
			}
			st := statuses(res)
			if st["b"] != tc.wantB || st["f"] != report.StatusOK {
				t.Errorf("statuses %v", st)
			}
		})
	}
}

// TestSignalDuringFinally: a signal while a finally task runs lets finally
// run to its end, then ends the run with the signal's exit code (not a
// green run); a stream that breaks then keeps a green run green.
func TestSignalDuringFinally(t *testing.T) {
	body := `
tasks:
  - {name: a, fake: {id: a}}
finally:
  - {name: f1, fake: {id: f1}}
  - {name: f2, fake: {id: f2}}
`
	for _, tc := range []struct {
		cause    *exit.InterruptedError
		wantCode int
	}{
		{&exit.InterruptedError{Signal: "SIGTERM", Number: 15}, 143},
		{&exit.InterruptedError{Signal: "SIGHUP", Number: 1}, 129},
		{&exit.InterruptedError{Signal: "SIGPIPE", Number: 13, Stream: true}, exit.OK},
	} {
		t.Run(tc.cause.Signal, func(t *testing.T) {
			h := newHarness()
			p := h.load(t, body)
			o := h.opts()
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o.Reporter = report.Multi{h.rec, report.Func(func(e report.Event) {
				if e.Type == report.TaskStart && e.Task == "f1" {
					cancel(tc.cause)
				}
			})}
			res := runner.Run(ctx, p, o)
			if got := exit.Code(res.Err); got != tc.wantCode {
				t.Errorf("exit %d, want %d (%v)", got, tc.wantCode, res.Err)
			}
			if st := statuses(res); st["a"] != report.StatusOK || st["f1"] != report.StatusOK || st["f2"] != report.StatusOK {
				t.Errorf("statuses %v: finally runs to its end", st)
			}
		})
	}
}

// A task that times out while the API server is not answering says so:
// its own error (a request still waiting) would not. So does one that
// times out after the server came back, having lost part of its time.
func TestTimeoutNamesOutage(t *testing.T) {
	// Outages are placed relative to the moment the runner asks from (the
	// task's start): from..back, back zero while it lasts.
	type outage struct{ from, back time.Duration }
	for _, c := range []struct {
		name    string
		outages []outage
		want    func(start time.Time) string // nil: no outage named
	}{
		{"down now", []outage{{from: 5 * time.Millisecond}}, func(start time.Time) string {
			return "the API server has not answered since " + start.Add(5*time.Millisecond).Format("15:04:05")
		}},
		{"back before the timeout", []outage{{-time.Second, 5 * time.Millisecond}, {10 * time.Millisecond, 25 * time.Millisecond}}, func(start time.Time) string {
			return "the API server did not answer for 20ms of the task's 30ms (" + start.Add(-time.Second).Format("15:04:05") + " to " + start.Add(25*time.Millisecond).Format("15:04:05") + ")"
		}},
		{"none", nil, nil},
		{"one before the task", []outage{{-time.Hour, -time.Minute}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness()
			var start time.Time
			res := h.run(t, `
tasks:
  - name: slow
    timeout: 30ms
    fake: {id: slow, sleep: 10s}
`, func(o *runner.Options) {
				o.Outages = func(since time.Time) []kube.Outage {
					start = since
					var out []kube.Outage
					for _, o := range c.outages {
						ko := kube.Outage{Since: since.Add(o.from)}
						if o.back != 0 {
							ko.Back = since.Add(o.back)
						}
						if ko.Back.IsZero() || ko.Back.After(since) {
							out = append(out, ko)
						}
					}
					return out
				}
			})
			if res.Err == nil || !strings.Contains(res.Err.Error(), "timed out after 30ms") {
				t.Fatalf("err %v, want the timeout", res.Err)
			}
			if c.want == nil {
				if strings.Contains(res.Err.Error(), "API server") {
					t.Errorf("err %v names an outage that did not overlap the task", res.Err)
				}
				return
			}
			if want := c.want(start); !strings.Contains(res.Err.Error(), want) {
				t.Errorf("err %v\nwant it to contain %q", res.Err, want)
			}
			if time.Since(start) < 30*time.Millisecond {
				t.Errorf("outages asked since %v: want the task's start, at least its timeout ago", start)
			}
		})
	}
}
