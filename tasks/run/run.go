// Package run is the `run` task type: a local command, as an argv list (no
// shell), or through `sh -c` only when the pipeline asks for a shell.
package run

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/expect"
	"github.com/kbrun/kbrun/tasks/internal/proc"
)

//go:embed schema.json
var schema []byte

// Type is the run task type.
type Type struct{}

// Params are the run task's parameters.
type Params struct {
	// Command is the argv; each element is its own template, so a value
	// with spaces or quotes stays one argument.
	Command []string `json:"command,omitempty"`
	// Shell is a script for `sh -c`, for when a pipeline wants a shell.
	Shell          string            `json:"shell,omitempty"`
	Dir            string            `json:"dir,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Stdin          string            `json:"stdin,omitempty"`
	ExpectExitCode *int              `json:"expectExitCode,omitempty"`
	Expect         *expect.Expect    `json:"expect,omitempty"`
}

func (Type) Name() string { return "run" }
func (Type) Summary() string {
	return "A local command as an argv list (never through a shell); `shell:` runs a script with `sh -c` only when asked for; `expect:` judges what it prints"
}
func (Type) Schema() json.RawMessage { return schema }
func (Type) Outputs() []string       { return []string{"stdout", "stderr", "exitCode"} }

// ParamOutputs implements task.ParamOutputs: the named groups of
// expect's patterns.
func (Type) ParamOutputs(params any) []string { return expect.Captures(params) }

// Check implements task.Checker: exactly one of command and shell, known
// before anything runs, and named groups that can be outputs.
func (t Type) Check(p task.Params) []task.FieldError {
	if errs := expect.CheckNames(p.Value, t.Outputs()); len(errs) > 0 {
		return errs
	}
	m, _ := p.Value.(map[string]any)
	_, hasCmd := m["command"]
	_, hasShell := m["shell"]
	switch {
	case hasCmd && hasShell:
		return []task.FieldError{{Path: []string{"shell"}, Message: "give either command (an argv list, no shell) or shell (a script for sh -c), not both"}}
	case !hasCmd && !hasShell:
		return []task.FieldError{{Message: "give command (an argv list) or shell (a script for sh -c)"}}
	}
	return nil
}

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if (len(params.Command) == 0) == (params.Shell == "") {
		return nil, fmt.Errorf("give exactly one of command and shell")
	}
	var ps task.Problems
	check, err := expect.Compile(params.Expect, params.ExpectExitCode)
	ps.Keep(err)
	for _, k := range slices.Sorted(maps.Keys(params.Env)) {
		if err := valid.EnvName(k); err != nil {
			ps.Add([]string{"env", k}, err)
		}
	}
	// A missing folder would fail as "fork/exec ...: no such file or
	// directory", naming the program, not the folder.
	ps.Check([]string{"dir"}, params.Dir, func(dir string) error { return p.Local(dir, "folder", true) })
	if err := ps.Err(); err != nil {
		return nil, err
	}
	a := &action{Params: params, dir: p.Dir, check: check}
	if params.Dir != "" {
		a.dir = p.Path(params.Dir)
	}
	return a, nil
}

type action struct {
	Params
	dir   string
	check *expect.Checker
}

func (a *action) argv() []string {
	if a.Shell != "" {
		return []string{"sh", "-c", a.Shell}
	}
	return a.Command
}

// Describe implements task.Action.
func (a *action) Describe() string {
	s := "run " + proc.Quote(a.argv())
	if len(a.Env) > 0 {
		keys := make([]string, 0, len(a.Env))
		for k := range a.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s += " with env " + strings.Join(keys, ",")
	}
	if w := a.check.Want(); w != 0 {
		s += fmt.Sprintf(", expecting exit code %d", w)
	}
	if d := a.check.Describe(); d != "" {
		s += ", expecting " + d
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	judge := a.check.Start()
	cmd := proc.Command{Argv: a.argv(), Dir: a.dir, Stdout: tee(judge.Stdout(), env.Stdout), Stderr: tee(judge.Stderr(), env.Stderr)}
	if len(a.Env) > 0 {
		cmd.Env = os.Environ()
		for k, v := range a.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if a.Stdin != "" {
		cmd.Stdin = strings.NewReader(a.Stdin)
	}
	res, err := proc.Run(ctx, cmd)
	captures, unmet := judge.Finish()
	expect.NoteCut(env, "stdout", int64(len(res.Stdout))+res.StdoutCut, int64(len(res.Stdout)), "last")
	expect.NoteCut(env, "stderr", int64(len(res.Stderr))+res.StderrCut, int64(len(res.Stderr)), "last")
	out := task.Outputs{"stdout": strings.TrimRight(res.Stdout, "\n"), "stderr": strings.TrimRight(res.Stderr, "\n"), "exitCode": res.ExitCode}
	if err != nil {
		return out, err
	}
	want := a.check.Want()
	if res.ExitCode != want {
		tail := proc.Tail(res.Stderr+res.Stdout, 20)
		return out, fmt.Errorf("%s exited with code %d, expected %d; last output:\n%s", a.argv()[0], res.ExitCode, want, tail)
	}
	for k, v := range captures {
		out[k] = v
	}
	if len(unmet) > 0 {
		msg := fmt.Sprintf("%s exited with code %d as expected, but %s", a.argv()[0], res.ExitCode, strings.Join(unmet, "; "))
		if tail := proc.Tail(res.Stdout, 20); tail != "" {
			msg += "\nlast lines of stdout:\n" + tail
		}
		if tail := proc.Tail(res.Stderr, 10); tail != "" {
			msg += "\nlast lines of stderr:\n" + tail
		}
		return out, fmt.Errorf("%s", msg)
	}
	return out, nil
}

// tee sends the output to the judge and, when there is one, the live view.
func tee(judge, live io.Writer) io.Writer {
	if live == nil {
		return judge
	}
	return io.MultiWriter(judge, live)
}
