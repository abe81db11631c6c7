package exec

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/pod"
	"github.com/kbrun/kbrun/tasks/internal/proc"
)

type stub func(ctx context.Context, r pod.ExecRequest) error

func (s stub) Execute(ctx context.Context, r pod.ExecRequest) error { return s(ctx, r) }

// withShell is a container with sh: it plays kbrun's status script around
// the command, which inner plays (inner sees the command's own argv).
func withShell(inner stub) stub {
	return func(ctx context.Context, r pod.ExecRequest) error {
		if len(r.Command) < 5 || r.Command[0] != "sh" || r.Command[3] != "kbrun-exec" {
			return inner(ctx, r)
		}
		mark := r.Command[4]
		r.Command = r.Command[5:]
		err := inner(ctx, r)
		if pod.IsNotFoundInContainer(err) && pod.ExitCode(err) < 0 {
			fmt.Fprintf(r.Stderr, "sh: %s: not found\n", r.Command[0])
			err = &pod.ExitError{Code: 127}
		}
		if code := pod.ExitCode(err); code >= 0 {
			fmt.Fprintf(r.Stderr, "\036%s:%d\036", mark, code)
		}
		return err
	}
}

func readyPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "builder-1", Namespace: "ones", Labels: map[string]string{"app": "b"},
			Annotations: map[string]string{pod.DefaultContainerAnnotation: "work"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "side"}, {Name: "work"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func run(t *testing.T, params map[string]any, ex stub) (task.Outputs, string, error) {
	t.Helper()
	a, err := Type{Executor: withShell(ex)}.Prepare(task.Params{Value: params, Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	var live strings.Builder
	env := &task.Env{Namespace: "ones", Stdout: &live, Stderr: &live, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(readyPod())}}}
	out, err := a.Run(context.Background(), env)
	return out, live.String(), err
}

func TestExecStreamsAndCaptures(t *testing.T) {
	var got pod.ExecRequest
	var stdin string
	out, live, err := run(t, map[string]any{"selector": "app=b", "command": []any{"sh", "-c", "cat"}, "stdin": "in"}, func(ctx context.Context, r pod.ExecRequest) error {
		got = r
		b, _ := io.ReadAll(r.Stdin)
		stdin = string(b)
		fmt.Fprintln(r.Stdout, "out line")
		fmt.Fprintln(r.Stderr, "err line")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Pod != "builder-1" || got.Container != "work" || got.Namespace != "ones" || stdin != "in" ||
		proc.Quote(got.Command) != `sh -c cat` {
		t.Fatalf("request %+v stdin %q", got, stdin)
	}
	if out["stdout"] != "out line" || out["stderr"] != "err line" || out["exitCode"] != 0 || out["pod"] != "builder-1" {
		t.Fatalf("outputs %v", out)
	}
	if live != "out line\nerr line\n" {
		t.Fatalf("live %q", live)
	}
}

func TestExecNonZeroShowsTail(t *testing.T) {
	out, _, err := run(t, map[string]any{"pod": "builder-1", "command": []any{"make"}}, func(ctx context.Context, r pod.ExecRequest) error {
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(r.Stdout, "line %d\n", i)
		}
		fmt.Fprintln(r.Stderr, "make: *** [all] Error 2")
		return &pod.ExitError{Code: 2}
	})
	if err == nil || task.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "make in ones/builder-1 exited with code 2, expected 0") || !strings.Contains(msg, "line 30") || strings.Contains(msg, "line 10\n") || !strings.Contains(msg, "Error 2") {
		t.Fatalf("message:\n%s", msg)
	}
	if out["exitCode"] != 2 {
		t.Fatalf("exitCode %v", out["exitCode"])
	}
}

func TestExecExpectExitCode(t *testing.T) {
	_, _, err := run(t, map[string]any{"pod": "builder-1", "command": []any{"false"}, "expectExitCode": 1}, func(ctx context.Context, r pod.ExecRequest) error {
		return &pod.ExitError{Code: 1}
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, map[string]any{"pod": "builder-1", "command": []any{"true"}, "expectExitCode": 1}, func(ctx context.Context, r pod.ExecRequest) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "exited with code 0, expected 1") || !strings.Contains(err.Error(), "with no output") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecMissingProgram(t *testing.T) {
	notFound := func(name string) error {
		return fmt.Errorf(`OCI runtime exec failed: exec failed: unable to start container process: exec: %q: executable file not found in $PATH`, name)
	}
	// A container with sh: sh says so, with 127.
	_, _, err := run(t, map[string]any{"pod": "builder-1", "command": []any{"nope"}}, func(ctx context.Context, r pod.ExecRequest) error {
		return notFound(r.Command[0])
	})
	if err == nil || !strings.Contains(err.Error(), "nope in ones/builder-1 exited with code 127, expected 0 (nope is missing or not executable in container work)") {
		t.Fatalf("err = %v", err)
	}
	// A container without sh: the runtime says so.
	var sent [][]string
	a, _ := Type{Executor: stub(func(ctx context.Context, r pod.ExecRequest) error {
		sent = append(sent, r.Command)
		return notFound(r.Command[0])
	})}.Prepare(task.Params{Value: map[string]any{"pod": "builder-1", "command": []any{"nope"}}, Rendered: true})
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(readyPod())}}}
	_, err = a.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "nope does not exist in container work of pod ones/builder-1") || len(sent) != 2 || sent[0][0] != "sh" || proc.Quote(sent[1]) != "nope" {
		t.Fatalf("err = %v, commands sent %q", err, sent)
	}
}

// TestExecExitStatusFromTheCommand: the exec protocol reports a stream cut
// under a running command (the container runtime restarting) as exit code
// 0. A verdict needs the command's own status: without its record the
// outcome is unknown (a retryable error, never an OK), and the record's
// code is the one judged.
func TestExecExitStatusFromTheCommand(t *testing.T) {
	params := map[string]any{"pod": "builder-1", "command": []any{"/build"}}
	cut := func(ctx context.Context, r pod.ExecRequest) error {
		fmt.Fprintln(r.Stdout, "INFO building layer 3")
		return nil // the stream ended without a status
	}
	a, _ := Type{Executor: stub(cut)}.Prepare(task.Params{Value: params, Rendered: true})
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(readyPod())}}}
	out, err := a.Run(context.Background(), env)
	if err == nil || !task.IsRetryable(err) || !strings.Contains(err.Error(), "/build in ones/builder-1: the exec stream ended (reported as exit code 0) before the command's exit status arrived, so its outcome is unknown") || out["exitCode"] != -1 {
		t.Fatalf("a cut stream: err = %v, outputs %v", err, out)
	}
	// The stream says 0, the command said 3 (the stream lost the status).
	a, _ = Type{Executor: stub(func(ctx context.Context, r pod.ExecRequest) error {
		fmt.Fprintf(r.Stderr, "failed\n\036%s:3\036", r.Command[4])
		return nil
	})}.Prepare(task.Params{Value: params, Rendered: true})
	out, err = a.Run(context.Background(), env)
	if err == nil || task.IsRetryable(err) || !strings.Contains(err.Error(), "exited with code 3, expected 0") || out["stderr"] != "failed" {
		t.Fatalf("the command's own status: err = %v, outputs %v", err, out)
	}
}

// TestStatusFilter: the record is taken out of stderr wherever the writes
// split it, the command's bytes pass unchanged, and text that only looks
// like a record (another mark, no digits) is the command's.
func TestStatusFilter(t *testing.T) {
	const mark = "kbrun-exit-0123"
	text := "warn: \036kbrun-exit-0123x\036 \036kbrun-exit-0123:\036 \036kbrun-exit-9:1\036 end\n"
	stream := text + "\036" + mark + ":42\036"
	for cut := 0; cut <= len(stream); cut++ {
		for cut2 := cut; cut2 <= len(stream); cut2 += 7 {
			var got strings.Builder
			f := newStatusFilter(&got, mark)
			for _, part := range []string{stream[:cut], stream[cut:cut2], stream[cut2:]} {
				if _, err := f.Write([]byte(part)); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if code, ok := f.Status(); got.String() != text || !ok || code != 42 {
				t.Fatalf("writes split at %d,%d: passed %q, status %d %v", cut, cut2, got.String(), code, ok)
			}
		}
	}
	var got strings.Builder
	f := newStatusFilter(&got, mark)
	_, _ = f.Write([]byte("cut here \036kbrun-exit-01"))
	_ = f.Close()
	if _, ok := f.Status(); ok || got.String() != "cut here \036kbrun-exit-01" {
		t.Fatalf("a stream cut inside a record's start: passed %q, found %v", got.String(), ok)
	}
}

func TestExecTimeoutStopsStream(t *testing.T) {
	a, _ := Type{Executor: withShell(func(ctx context.Context, r pod.ExecRequest) error {
		fmt.Fprintln(r.Stdout, "working")
		<-ctx.Done()
		return fmt.Errorf("exec: %w (stream stopped)", ctx.Err())
	})}.Prepare(task.Params{Value: map[string]any{"pod": "builder-1", "command": []any{"sleep", "1000"}}, Rendered: true})
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(readyPod())}}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Run(ctx, env)
	if err == nil || !strings.Contains(err.Error(), "working") || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestDescribe(t *testing.T) {
	a, _ := Type{}.Prepare(task.Params{Value: map[string]any{"pod": "<tasks.builder.pod>", "namespace": "ones", "command": []any{"/workspace/kaniko-rootless-demo", "--push", "a b"}}})
	if got := a.Describe(); got != "exec /workspace/kaniko-rootless-demo --push 'a b' in ones/<tasks.builder.pod>" {
		t.Fatal(got)
	}
	a, _ = Type{}.Prepare(task.Params{Value: map[string]any{"selector": "app=b", "container": "c", "command": []any{"cat"}, "stdin": "abc", "expectExitCode": 3}})
	if got := a.Describe(); got != "exec cat in the pod labelled app=b in <run namespace> (container c), with 3 bytes on stdin, expecting exit code 3" {
		t.Fatal(got)
	}
}

// TestExecEnvAndExpect: env goes through the container's env program, the
// expectations judge stdout and stderr, and a named group of a pattern is
// an output; an unmet expectation fails the task (not retryable) saying
// which and quoting the output.
func TestExecEnvAndExpect(t *testing.T) {
	var got []string
	ex := func(out, errOut string) stub {
		return func(ctx context.Context, r pod.ExecRequest) error {
			got = r.Command
			fmt.Fprint(r.Stdout, out)
			fmt.Fprint(r.Stderr, errOut)
			return nil
		}
	}
	params := map[string]any{"pod": "builder-1", "command": []any{"/build", "-x"}, "env": map[string]any{"B": "two words", "A": "1"},
		"expect": map[string]any{"stdout": map[string]any{"matches": `(?m)^digest: (?P<digest>sha256:[0-9a-f]{4})$`, "contains": []any{"pushed"}}, "stderr": map[string]any{"absent": "panic"}}}
	out, _, err := run(t, params, ex("pushed\ndigest: sha256:abcd\n", "warning\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "env A=1 B=two words /build -x" {
		t.Errorf("command sent %q", got)
	}
	if out["digest"] != "sha256:abcd" || out["stdout"] != "pushed\ndigest: sha256:abcd" {
		t.Errorf("outputs %v", out)
	}
	out, _, err = run(t, params, ex("digest: none\n", "panic: oops\n"))
	if err == nil || task.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`/build in ones/builder-1 exited with code 0 as expected, but stdout does not contain "pushed"`,
		"stdout does not match /(?m)^digest: (?P<digest>sha256:[0-9a-f]{4})$/", `stderr contains "panic", which must be absent`,
		"last lines of stdout:\ndigest: none", "last lines of stderr:\npanic: oops"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, has := out["digest"]; has {
		t.Errorf("a pattern that did not match gave an output: %v", out)
	}
	a, _ := Type{}.Prepare(task.Params{Value: params, Rendered: true})
	if d := a.Describe(); d != `exec /build -x in <run namespace>/builder-1 with env A,B, expecting stdout contains "pushed", matches /(?m)^digest: (?P<digest>sha256:[0-9a-f]{4})$/; stderr lacks "panic"` {
		t.Errorf("describe %q", d)
	}
}

// TestExecExpectPrepare: outputs named by patterns are known before the
// task runs; bad patterns and names are refused at their place.
func TestExecExpectPrepare(t *testing.T) {
	params := map[string]any{"pod": "p", "command": []any{"x"}, "expect": map[string]any{"stdout": map[string]any{"matches": []any{"(?P<tag>v[0-9]+)", "(?<sum>[a-f]+)"}}}}
	if got := (Type{}).ParamOutputs(params); strings.Join(got, ",") != "sum,tag" {
		t.Errorf("param outputs %v", got)
	}
	bad := map[string]any{"pod": "p", "command": []any{"x"}, "expect": map[string]any{"stderr": map[string]any{"matches": []any{"ok", "(?P<stdout>x)"}}}}
	if errs := (Type{}).Check(task.Params{Value: bad}); len(errs) != 1 || strings.Join(errs[0].Path, ".") != "expect.stderr.matches.1" || !strings.Contains(errs[0].Message, "already an output") {
		t.Errorf("check %v", errs)
	}
	_, err := Type{}.Prepare(task.Params{Value: map[string]any{"pod": "p", "command": []any{"x"}, "expect": map[string]any{"stdout": map[string]any{"matches": "a("}}}, Rendered: true})
	if fp, ok := task.Field(err); !ok || strings.Join(fp, ".") != "expect.stdout.matches.0" {
		t.Errorf("bad pattern: %v at %v", err, fp)
	}
	_, err = Type{}.Prepare(task.Params{Value: map[string]any{"pod": "p", "command": []any{"x"}, "expectExitCode": 1, "expect": map[string]any{"exitCode": 2}}, Rendered: true})
	if err == nil || !strings.Contains(err.Error(), "give the exit code once") {
		t.Errorf("two exit codes: %v", err)
	}
}

// TestExecExpectSeesAll: the expectations judge all of the output, not the
// part kept as .stdout (its first 1 MiB): an error early in 3 MiB of
// output fails `absent`, a string and a pattern at its end are found, and
// the task's log says how much of .stdout was cut.
func TestExecExpectSeesAll(t *testing.T) {
	a, err := Type{Executor: withShell(func(ctx context.Context, r pod.ExecRequest) error {
		fmt.Fprintln(r.Stdout, "FATAL ERROR: disk full")
		filler := strings.Repeat("still going\n", 1024)
		for range 256 {
			fmt.Fprint(r.Stdout, filler)
		}
		fmt.Fprintln(r.Stdout, "done 42")
		return nil
	})}.Prepare(task.Params{Rendered: true, Value: map[string]any{"pod": "builder-1", "command": []any{"build"},
		"expect": map[string]any{"stdout": map[string]any{"absent": "FATAL ERROR", "contains": "done 42", "matches": `done (?P<n>[0-9]+)$`}}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	env := &task.Env{Task: "build", Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(f string, args ...any) { logs = append(logs, fmt.Sprintf(f, args...)) },
		Kube: kube.StaticProvider{C: &kube.Clients{Typed: fake.NewSimpleClientset(readyPod())}}}
	out, err := a.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), `but stdout contains "FATAL ERROR", which must be absent (line 1, byte 0: "FATAL ERROR: disk full")`) ||
		strings.Contains(err.Error(), "does not") {
		t.Fatalf("err = %v", err)
	}
	total := len("FATAL ERROR: disk full\n") + 256*1024*len("still going\n") + len("done 42\n")
	want := fmt.Sprintf("stdout was %d bytes: .tasks.build.stdout keeps its first 1048576, %d bytes are cut (expect judged all of it)", total, total-1<<20)
	if !slices.Contains(logs, want) || len(out["stdout"].(string)) != 1<<20 {
		t.Errorf("logs %q\nwant %q; kept %d bytes", logs, want, len(out["stdout"].(string)))
	}
}
