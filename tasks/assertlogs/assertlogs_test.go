package assertlogs

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

func feed(m *Matcher, lines ...string) bool {
	done := false
	for _, l := range lines {
		done = m.Line(l)
	}
	return done
}

func TestMatcherAnyOrder(t *testing.T) {
	m, _ := NewMatcher([]string{"Server started", "Hello"}, []string{`port \d+`}, false, nil)
	if feed(m, "Server started on port 8081") {
		t.Fatal("done too early")
	}
	if !feed(m, "Hello World") {
		t.Fatalf("unmet: %v", m.Unmet())
	}
	if fmt.Sprint(m.Matched()) != "[Server started on port 8081 Hello World Server started on port 8081]" {
		t.Fatal(m.Matched())
	}
}

func TestMatcherInOrder(t *testing.T) {
	m, _ := NewMatcher([]string{"Hello World", "Server started"}, nil, true, nil)
	feed(m, "Server started on port 8081", "Hello World")
	if m.Done() {
		t.Fatal("order ignored")
	}
	if u := m.Unmet(); len(u) != 1 || u[0] != `a line containing "Server started" after line 2` {
		t.Fatalf("unmet %q", u)
	}
	if !feed(m, "Server started on port 8081") {
		t.Fatal("not done")
	}
	// One line cannot satisfy two ordered expectations.
	m, _ = NewMatcher([]string{"a", "a"}, nil, true, nil)
	if feed(m, "a") || !feed(m, "a") {
		t.Fatal("one line counted twice")
	}
}

func TestMatcherAbsentAndTail(t *testing.T) {
	m, _ := NewMatcher([]string{"ready"}, nil, false, []string{"panic:"})
	for i := 0; i < 60; i++ {
		m.Line(fmt.Sprintf("line %d", i))
	}
	m.Line("panic: boom")
	if !strings.Contains(m.Violation, `line 61 contains "panic:"`) {
		t.Fatalf("violation %q", m.Violation)
	}
	if len(m.Tail()) != 50 || m.Tail()[49] != "panic: boom" || m.Tail()[0] != "line 11" {
		t.Fatalf("tail %d %q", len(m.Tail()), m.Tail()[0])
	}
}

func TestBadRegex(t *testing.T) {
	_, err := Type{}.Prepare(task.Params{Value: map[string]any{"pod": "p", "matches": []any{"("}}})
	if p, ok := task.Field(err); !ok || strings.Join(p, ".") != "matches.0" || !strings.Contains(err.Error(), `"(" is not a regular expression`) {
		t.Fatalf("err = %v", err)
	}
}

func TestConsumeSkipsSeenAfterBrokenStream(t *testing.T) {
	m, _ := NewMatcher([]string{"third"}, nil, false, nil)
	f := &follower{m: m}
	ts := func(s int) string { return time.Date(2026, 1, 1, 0, 0, s, 0, time.UTC).Format(time.RFC3339Nano) }
	if err := f.consume(strings.NewReader(ts(1)+" first\n"+ts(2)+" second\n"), false); err != nil {
		t.Fatal(err)
	}
	// The stream is resumed with sinceTime: kubelet repeats the last line.
	err := f.consume(strings.NewReader(ts(2)+" second\n"+ts(3)+" third\n"), true)
	if err != errDone || m.Lines() != 3 {
		t.Fatalf("err %v lines %d", err, m.Lines())
	}
}

func TestFailureMessage(t *testing.T) {
	m, _ := NewMatcher([]string{"Hello World"}, []string{`Server started on port \d+`}, false, nil)
	m.Line("Server started on port 8081")
	m.Line("something else")
	f := &follower{m: m, ns: "ones", pod: "web-1", container: "app"}
	msg := f.failure("timed out (context deadline exceeded)").Error()
	for _, want := range []string{
		"the log of container app of pod ones/web-1 did not meet expectations: timed out",
		"never seen:\n  - a line containing \"Hello World\"",
		"last 2 of 2 lines:\n  | Server started on port 8081\n  | something else",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "8081\"") {
		t.Error("met expectation listed as unmet")
	}
}

func TestDescribe(t *testing.T) {
	a, _ := Type{}.Prepare(task.Params{Value: map[string]any{"pod": "<tasks.test.pod>", "namespace": "ones", "contains": []any{"Hello World", "Server started on port 8081"}, "inOrder": true, "absent": []any{"panic"}}})
	want := `check the log of ones/<tasks.test.pod> for "Hello World" and "Server started on port 8081" in that order, and that it never shows "panic"`
	if got := a.Describe(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func startedPod(name string, age time.Duration) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ones", Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "c-" + name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

// TestPodsAllAndAny: with pods: all every matching pod's log is followed
// and must pass (pods lists them all); with pods: any one passing is
// enough; when none passes, the error says so and names each pod.
// (The fake clientset serves "fake logs" for every pod.)
func TestPodsAllAndAny(t *testing.T) {
	env := &task.Env{Namespace: "ones", Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(startedPod("web-a", time.Hour), startedPod("web-b", time.Minute))}}}
	run := func(params map[string]any) (task.Outputs, error) {
		a, err := Type{}.Prepare(task.Params{Value: params, Rendered: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return a.Run(ctx, env)
	}
	out, err := run(map[string]any{"selector": "app=web", "pods": "all", "contains": []any{"fake"}})
	if err != nil || fmt.Sprint(out["pods"]) != "[web-b web-a]" && fmt.Sprint(out["pods"]) != "[web-a web-b]" {
		t.Fatalf("all: %v %v", out, err)
	}
	out, err = run(map[string]any{"selector": "app=web", "pods": "any", "contains": []any{"logs"}})
	if err != nil || len(out["pods"].([]any)) < 1 {
		t.Fatalf("any: %v %v", out, err)
	}
	_, err = run(map[string]any{"selector": "app=web", "pods": "any", "absent": []any{"fake"}})
	if err == nil || !strings.Contains(err.Error(), "no pod labelled app=web passed (2 tried: web-b, web-a)") || strings.Count(err.Error(), "which must be absent") != 2 {
		t.Fatalf("any, none passes: %v", err)
	}
	_, err = run(map[string]any{"selector": "app=web", "pods": "all", "absent": []any{"logs"}})
	if err == nil || !strings.Contains(err.Error(), "every pod labelled app=web must pass, and pod web-") {
		t.Fatalf("all, one fails: %v", err)
	}
	for _, bad := range []map[string]any{{"pod": "x", "pods": "all", "contains": []any{"a"}}, {"selector": "a=b", "pods": "each", "contains": []any{"a"}}} {
		if _, err := (Type{}).Prepare(task.Params{Value: bad, Rendered: true}); err == nil {
			t.Errorf("%v accepted", bad)
		} else if fp, _ := task.Field(err); strings.Join(fp, ".") != "pods" {
			t.Errorf("%v: %v at %v", bad, err, fp)
		}
	}
	a, _ := Type{}.Prepare(task.Params{Value: map[string]any{"selector": "app=web", "pods": "all", "contains": []any{"ready"}}, Namespace: "ones", Rendered: true})
	if d := a.Describe(); d != `check the logs of every started pod labelled app=web in ones (all must pass) for "ready"` {
		t.Errorf("describe %q", d)
	}
}

// TestCaptures: the named groups of matches are outputs, known before the
// task runs and read from the line that met each pattern.
func TestCaptures(t *testing.T) {
	m, _ := NewMatcher(nil, []string{`version (?P<version>v[0-9]+)`, `port (?P<port>[0-9]+)`}, false, nil)
	feed(m, "starting version v7", "listening on port 8081")
	if c := m.Captures(); c["version"] != "v7" || c["port"] != "8081" {
		t.Errorf("captures %v", c)
	}
	params := map[string]any{"matches": []any{`(?P<version>v[0-9]+)`, `(?P<pods>x)`}}
	if got := (Type{}).ParamOutputs(params); strings.Join(got, ",") != "version,pods" {
		t.Errorf("param outputs %v", got)
	}
	if errs := (Type{}).Check(task.Params{Value: params}); len(errs) != 1 || !strings.Contains(errs[0].Message, `"pods" is already an output`) {
		t.Errorf("check %v", errs)
	}
}
