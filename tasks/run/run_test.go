package run_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/run"
	"golang.org/x/sys/unix"
)

func runTask(t *testing.T, ctx context.Context, params map[string]any) (task.Outputs, error) {
	t.Helper()
	a, err := run.Type{}.Prepare(task.Params{Value: params, Dir: t.TempDir(), Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	return a.Run(ctx, &task.Env{Task: "t", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {}})
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]any
		stdout  string
		code    int
		wantErr string
	}{
		{"argv", map[string]any{"command": []any{"printf", "%s", "a b"}}, "a b", 0, ""},
		{"shell", map[string]any{"shell": "echo $((1+2))"}, "3", 0, ""},
		{"env", map[string]any{"command": []any{"sh", "-c", "echo $K"}, "env": map[string]any{"K": "v"}}, "v", 0, ""},
		{"stdin", map[string]any{"command": []any{"cat"}, "stdin": "in"}, "in", 0, ""},
		{"exit code fails", map[string]any{"shell": "echo out; echo err >&2; exit 4"}, "out", 4, "exited with code 4, expected 0; last output:\nerr\nout"},
		{"expected exit code", map[string]any{"shell": "exit 4", "expectExitCode": 4}, "", 4, ""},
		{"missing program", map[string]any{"command": []any{"no-such-program-kbrun"}}, "", 127, "program not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTask(t, context.Background(), tc.params)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if out["stdout"] != tc.stdout || out["exitCode"] != tc.code {
				t.Errorf("outputs %v, want stdout %q code %d", out, tc.stdout, tc.code)
			}
		})
	}
}

// TestRunCancelKillsGroup: when the task's context ends, the command and
// the processes it started are stopped. The command hands its background
// child's PID over a FIFO (so the task is cancelled only once the child
// runs); a pidfd of that PID turns readable when the child has exited.
func TestRunCancelKillsGroup(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pid")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pidc := make(chan string, 1)
	go func() {
		b, err := os.ReadFile(fifo) // blocks until the command has written
		if err != nil {
			t.Error(err)
		}
		pidc <- strings.TrimSpace(string(b))
		cancel()
	}()
	errc := make(chan error, 1)
	go func() {
		_, err := runTask(t, ctx, map[string]any{"shell": "sleep 300 >/dev/null 2>&1 & echo $! > " + fifo + "; sleep 300"})
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not end within 30s (of a 20s timeout)")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("the command never handed over its child (%v) or was not stopped: %v", ctx.Err(), err)
	}
	if err == nil {
		t.Fatal("a cancelled task succeeded")
	}
	pid, err := strconv.Atoi(<-pidc)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone already
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("the command's child (pid %d) outlived the task by 10s", pid)
		}
		return
	}
}

func TestCheck(t *testing.T) {
	for params, want := range map[string]string{
		`both`:    "not both",
		`neither`: "give command",
	} {
		var v map[string]any
		if params == "both" {
			v = map[string]any{"command": []any{"x"}, "shell": "x"}
		} else {
			v = map[string]any{}
		}
		errs := run.Type{}.Check(task.Params{Value: v})
		if len(errs) != 1 || !strings.Contains(errs[0].Message, want) {
			t.Errorf("%s: %v", params, errs)
		}
	}
}

// TestRunExpect: expectations on a local command's output, and a named
// group as an output.
func TestRunExpect(t *testing.T) {
	a, err := run.Type{}.Prepare(task.Params{Value: map[string]any{"shell": "echo version v1.2.3; echo oops >&2; exit 3",
		"expect": map[string]any{"exitCode": 3, "stdout": map[string]any{"matches": `version (?P<version>v[0-9.]+)`}, "stderr": map[string]any{"equals": "oops"}}}, Dir: t.TempDir(), Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Run(context.Background(), &task.Env{})
	if err != nil || out["version"] != "v1.2.3" || out["exitCode"] != 3 {
		t.Fatalf("out %v err %v", out, err)
	}
	a, _ = run.Type{}.Prepare(task.Params{Value: map[string]any{"command": []any{"echo", "hello"},
		"expect": map[string]any{"stdout": map[string]any{"equals": "bye", "contains": "hell"}}}, Dir: t.TempDir(), Rendered: true})
	_, err = a.Run(context.Background(), &task.Env{})
	if err == nil || !strings.Contains(err.Error(), `echo exited with code 0 as expected, but stdout is "hello", expected exactly "bye"`) || strings.Contains(err.Error(), "hell\"") {
		t.Fatalf("err %v", err)
	}
}

// TestRunExpectSeesAll: the expectations judge all of a command's output,
// not the part kept as .stdout (its last 1 MiB): an error followed by 3 MiB
// fails `absent`, and the task's log says how much of .stdout was cut.
func TestRunExpectSeesAll(t *testing.T) {
	a, err := run.Type{}.Prepare(task.Params{Dir: t.TempDir(), Rendered: true, Value: map[string]any{
		"shell":  "echo FATAL ERROR; head -c 3145728 /dev/zero | tr '\\0' x; echo; echo done",
		"expect": map[string]any{"stdout": map[string]any{"absent": "FATAL ERROR", "matches": "^FATAL"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	env := &task.Env{Task: "t", Logf: func(f string, args ...any) { logs = append(logs, fmt.Sprintf(f, args...)) }}
	out, err := a.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), `sh exited with code 0 as expected, but stdout contains "FATAL ERROR", which must be absent (line 1, byte 0: "FATAL ERROR")`) || strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v", err)
	}
	total := len("FATAL ERROR\n") + 3<<20 + len("\ndone\n")
	want := fmt.Sprintf("stdout was %d bytes: .tasks.t.stdout keeps its last 1048576, %d bytes are cut (expect judged all of it)", total, total-1<<20)
	if !slices.Contains(logs, want) || !strings.HasSuffix(out["stdout"].(string), "x\ndone") {
		t.Errorf("logs %q\nwant %q", logs, want)
	}
}

// pidfd opens a pidfd of pid, which turns readable when the process exits.
func pidfd(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// exitedWithin polls a pidfd for up to ms milliseconds.
func exitedWithin(t *testing.T, fd, ms int) bool {
	t.Helper()
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
}

// TestRunEndsWhenTheProcessExits: a command that exits at once but leaves
// a background child holding its output (`sleep 300 &`) ends when it
// exits, not when the child does: the task returns, successfully, while
// the child still runs (it is left running, as the command asked).
func TestRunEndsWhenTheProcessExits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := runTask(t, ctx, map[string]any{"shell": "sleep 300 & echo started $!"})
	if err != nil {
		t.Fatalf("the task did not end with its process: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(out["stdout"].(string), "started "))
	if err != nil {
		t.Fatalf("stdout %q", out["stdout"])
	}
	fd := pidfd(t, pid)
	defer unix.Kill(pid, unix.SIGKILL)
	if exitedWithin(t, fd, 0) {
		t.Fatal("the background child had already exited: the test proves nothing")
	}
}

// TestRunStoppedKillsGrandchildren: when the task's context ends (its
// timeout, or a signal that stops the run) the command's whole process
// group is killed, a grandchild that ignores SIGTERM included, before the
// task returns, although the command (which dies of SIGTERM) left nothing
// holding its output. The grandchild hands its PID over a FIFO, so the
// context ends only once it runs.
func TestRunStoppedKillsGrandchildren(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pid")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pidc := make(chan int, 1)
	go func() {
		b, err := os.ReadFile(fifo) // blocks until the command has written
		pid, aerr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || aerr != nil {
			t.Errorf("pid %q: %v %v", b, err, aerr)
		}
		pidc <- pid
		cancel()
	}()
	_, err := runTask(t, ctx, map[string]any{"shell": `sh -c 'trap "" TERM; sleep 300 & echo $! > ` + fifo + `; wait' >/dev/null 2>&1`})
	if err == nil || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("the task was not stopped by its context: %v (%v)", err, ctx.Err())
	}
	pid := <-pidc
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone and reaped
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if !exitedWithin(t, fd, 5000) {
		unix.Kill(pid, unix.SIGKILL)
		t.Fatalf("the grandchild (pid %d, ignoring SIGTERM) outlived the stopped task by 5s", pid)
	}
}
