package assertlogs

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
