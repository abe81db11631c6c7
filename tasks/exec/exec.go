// Package exec is the `exec` task type: a command in a container, run over
// the pods/exec subresource (WebSocket, falling back to SPDY), its output
// streamed live.
package exec

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/expect"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
	"github.com/kbrun/kbrun/tasks/internal/proc"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the exec task type.
type Type struct {
	// Executor replaces the cluster executor (unit tests).
	Executor pod.RemoteExecutor
}

// Params are the exec task's parameters.
type Params struct {
	pod.Target
	ExactlyOne     bool     `json:"exactlyOne,omitempty"`
	Command        []string `json:"command"`
	Stdin          *string  `json:"stdin,omitempty"`
	ExpectExitCode *int     `json:"expectExitCode,omitempty"`
	// Env is set for the command through the container's env program.
	Env    map[string]string `json:"env,omitempty"`
	Expect *expect.Expect    `json:"expect,omitempty"`
}

func (Type) Name() string { return "exec" }
func (Type) Summary() string {
	return "An argv list in a pod's container, output streamed live; `env:` (set through the container's `env` program; the values travel in the exec request, so mount secrets instead); `expect:` judges what it prints"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"stdout", "stderr", "exitCode", "pod"} }

// ParamOutputs implements task.ParamOutputs: the named groups of
// expect's patterns.
func (Type) ParamOutputs(params any) []string { return expect.Captures(params) }

// Check implements task.Checker.
func (t Type) Check(p task.Params) []task.FieldError {
	return expect.CheckNames(p.Value, t.Outputs())
}

// Prepare implements task.Type.
func (t Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	ps.Keep(params.Target.Validate())
	if len(params.Command) == 0 || params.Command[0] == "" {
		ps.Add([]string{"command"}, fmt.Errorf("give the program and its arguments"))
	}
	check, err := expect.Compile(params.Expect, params.ExpectExitCode)
	ps.Keep(err)
	for _, k := range slices.Sorted(maps.Keys(params.Env)) {
		if err := valid.EnvName(k); err != nil {
			ps.Add([]string{"env", k}, err)
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return &action{Params: params, executor: t.Executor, check: check}, nil
}

type action struct {
	Params
	executor pod.RemoteExecutor
	check    *expect.Checker
}

// Namespace is the pod's namespace.
func (a *action) UsesNamespace() string { return a.Target.Namespace }

func (a *action) want() int { return a.check.Want() }

// argv is the command as sent: under env when the task sets variables (an
// exec request has no environment of its own).
func (a *action) argv() []string {
	if len(a.Env) == 0 {
		return a.Command
	}
	names := make([]string, 0, len(a.Env))
	for k := range a.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	argv := []string{"env"}
	for _, k := range names {
		argv = append(argv, k+"="+a.Env[k])
	}
	return append(argv, a.Command...)
}

func (a *action) envNames() string {
	names := make([]string, 0, len(a.Env))
	for k := range a.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	s := "exec " + proc.Quote(a.Command) + " in " + a.Target.String(ns)
	if a.Stdin != nil {
		s += fmt.Sprintf(", with %d bytes on stdin", len(*a.Stdin))
	}
	if len(a.Env) > 0 {
		s += " with env " + a.envNames()
	}
	if w := a.want(); w != 0 {
		s += fmt.Sprintf(", expecting exit code %d", w)
	}
	if d := a.check.Describe(); d != "" {
		s += ", expecting " + d
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ns := k8s.Namespace(a.Namespace, env)
	ex := a.executor
	var container string
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	p, err := pod.ResolveWatched(ctx, c, ns, a.Target, pod.ResolveOptions{ExactlyOne: a.ExactlyOne})
	if err != nil {
		return nil, err
	}
	if container, err = pod.Container(p, a.Container); err != nil {
		return nil, err
	}
	if ex == nil {
		ex = pod.NewExecutor(c)
	}
	judge := a.check.Start()
	out, err := Exec(ctx, env, ex, ns, p.Name, container, a.argv(), a.Stdin, a.want(), a.Command[0], judge)
	captures, unmet := judge.Finish()
	if err != nil {
		return out, err
	}
	return judged(out, captures, unmet, fmt.Sprintf("%s in %s/%s", a.Command[0], ns, p.Name))
}

// judged adds the named groups of the patterns to the outputs, and fails
// when an expectation is unmet.
func judged(out task.Outputs, captures map[string]any, unmet []string, what string) (task.Outputs, error) {
	stdout, _ := out["stdout"].(string)
	stderr, _ := out["stderr"].(string)
	for k, v := range captures {
		out[k] = v
	}
	if len(unmet) == 0 {
		return out, nil
	}
	msg := fmt.Sprintf("%s exited with code %v as expected, but %s", what, out["exitCode"], strings.Join(unmet, "; "))
	if last := pod.TailLines(stdout, 20); last != "" {
		msg += "\nlast lines of stdout:\n" + last
	} else {
		msg += "\nstdout was empty"
	}
	if last := pod.TailLines(stderr, 10); last != "" {
		msg += "\nlast lines of stderr:\n" + last
	}
	return out, fmt.Errorf("%s", msg)
}

// maxKept bounds each output kept for templates (its start is kept).
const maxKept = 1 << 20

// Exec runs the command, its output going to judge as it arrives, and
// judges its exit code; shared with tests. prog names the program in
// messages (argv may start with env).
func Exec(ctx context.Context, env *task.Env, ex pod.RemoteExecutor, ns, podName, container string, argv []string, stdin *string, want int, prog string, judge *expect.Judge) (task.Outputs, error) {
	tail := pod.NewTail(64 << 10)
	stdout := pod.NewCapture(maxKept, io.MultiWriter(judge.Stdout(), tail, orDiscard(env.Stdout)))
	stderr := pod.NewCapture(maxKept, io.MultiWriter(judge.Stderr(), tail, orDiscard(env.Stderr)))
	mark := newMark()
	status := newStatusFilter(stderr, mark)
	req := pod.ExecRequest{Namespace: ns, Pod: podName, Container: container, Stdout: stdout, Stderr: status}
	stdinReader := func() io.Reader {
		if stdin == nil {
			return nil
		}
		return strings.NewReader(*stdin)
	}
	k8s.Logf(env, "exec %s in %s/%s (container %s)", proc.Quote(argv), ns, podName, container)
	// The command runs under sh, which reports its exit status in a record
	// on stderr (see statusScript); a container without sh runs it as is,
	// its exit status then taken from the stream.
	script := statusScript
	if stdin != nil && *stdin != "" {
		script = drainStatusScript
	}
	req.Command = append([]string{"sh", "-c", script, "kbrun-exec", mark}, argv...)
	req.Stdin = stdinReader()
	err := ex.Execute(ctx, req)
	wrapped := true
	if err != nil && pod.ExitCode(err) < 0 && pod.IsNotFoundInContainer(err) {
		wrapped = false
		req.Command, req.Stdin, req.Stderr = argv, stdinReader(), stderr
		err = ex.Execute(ctx, req)
	}
	if cerr := status.Close(); cerr != nil && err == nil {
		err = cerr
	}
	// A cut stream looks like exit code 0; a non-zero code is a status
	// the runtime sent (the shell itself killed, say), so it stands.
	if code := pod.ExitCode(err); wrapped && code >= 0 {
		if real, ok := status.Status(); !ok && code == 0 {
			out := task.Outputs{"stdout": strings.TrimRight(stdout.String(), "\n"), "stderr": strings.TrimRight(stderr.String(), "\n"), "exitCode": -1, "pod": podName}
			return out, task.Retryablef("%s in %s/%s: the exec stream ended (reported as exit code %d) before the command's exit status arrived, so its outcome is unknown: the kubelet or the container runtime may have restarted under it", prog, ns, podName, code)
		} else if ok && real != code {
			err = &pod.ExitError{Code: real}
			if real == 0 {
				err = nil
			}
		}
	}
	code := pod.ExitCode(err)
	expect.NoteCut(env, "stdout", maxKept+stdout.Cut(), maxKept, "first") // said only when something was cut
	expect.NoteCut(env, "stderr", maxKept+stderr.Cut(), maxKept, "first")
	out := task.Outputs{
		"stdout":   strings.TrimRight(stdout.String(), "\n"),
		"stderr":   strings.TrimRight(stderr.String(), "\n"),
		"exitCode": code,
		"pod":      podName,
	}
	if err != nil && code < 0 {
		if pod.IsNotFoundInContainer(err) {
			return out, fmt.Errorf("%s does not exist in container %s of pod %s/%s: %w", argv[0], container, ns, podName, err) // env, when it is the one missing
		}
		if last := pod.TailLines(tail.String(), 20); last != "" && ctx.Err() != nil {
			return out, fmt.Errorf("%w; last output:\n%s", err, last)
		}
		return out, err
	}
	if code != want {
		last := pod.TailLines(tail.String(), 20)
		// stdout and stderr arrive on separate streams, so their order
		// across streams is not kept: make sure the end of stderr, where
		// errors usually are, is in the message.
		if errTail := pod.TailLines(stderr.String(), 10); errTail != "" && !strings.Contains(last, errTail) {
			last = pod.TailLines(stdout.String(), 20) + "\nlast lines of stderr:\n" + errTail
		}
		msg := fmt.Sprintf("%s in %s/%s exited with code %d, expected %d", prog, ns, podName, code, want)
		if code == 126 || code == 127 {
			msg += fmt.Sprintf(" (%s is missing or not executable in container %s)", prog, container)
		}
		if last != "" {
			msg += "; last output:\n" + last
		} else {
			msg += " with no output"
		}
		return out, fmt.Errorf("%s", msg)
	}
	return out, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
