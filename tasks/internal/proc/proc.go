// Package proc runs local commands for task types: output streamed live,
// the whole process group stopped when the task's context ends.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Result is what a finished command left behind.
type Result struct {
	Stdout, Stderr string
	// StdoutCut and StderrCut are how many bytes of the output were not
	// kept in Stdout and Stderr (their start: the last MaxCapture are kept).
	StdoutCut, StderrCut int64
	ExitCode             int
}

// Command describes one local process.
type Command struct {
	Argv  []string
	Dir   string
	Env   []string // full environment; nil inherits kbrun's
	Stdin io.Reader
	// Stdout and Stderr receive output live (besides being captured).
	Stdout, Stderr io.Writer
	// MaxCapture bounds the captured output kept for outputs and messages.
	MaxCapture int
}

// DrainDelay is how long output is still read after the command exited. A
// command ends when its process exits, not when its output closes: a
// background child it started (`server &`) holds the output open as long as
// it lives. What arrives in this delay is read; then the pipes are closed,
// and a child writing to them later gets SIGPIPE (EPIPE), so a command that
// leaves a process running should send that process's output elsewhere.
const DrainDelay = 500 * time.Millisecond

// grace is how long a stopped command has between SIGTERM and SIGKILL.
const grace = 3 * time.Second

// ErrNotFound is returned when the program does not exist.
var ErrNotFound = errors.New("program not found")

// Run starts the command and waits for it to exit (and DrainDelay at most
// for its output). A non-zero exit is not an error: it is in
// Result.ExitCode. Errors are failures to start, or ctx ending (the task's
// timeout, or a signal that stops the run): then the command's process
// group gets SIGTERM, and SIGKILL once the command has exited or after
// grace, so that its children and theirs go too, even those that ignore
// SIGTERM; Run returns once that is done.
func Run(ctx context.Context, c Command) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, fmt.Errorf("empty command")
	}
	path, err := exec.LookPath(c.Argv[0])
	if err != nil {
		return Result{ExitCode: 127}, fmt.Errorf("%w: %s", ErrNotFound, c.Argv[0])
	}
	limit := c.MaxCapture
	if limit <= 0 {
		limit = 1 << 20
	}
	outBuf, errBuf := &capped{limit: limit}, &capped{limit: limit}
	cmd := exec.Command(path, c.Argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdin = c.Dir, c.Env, c.Stdin
	cmd.Stdout = tee(outBuf, c.Stdout)
	cmd.Stderr = tee(errBuf, c.Stderr)
	cmd.WaitDelay = DrainDelay
	// Pdeathsig: a kbrun killed outright (SIGKILL, OOM) takes the command
	// with it instead of leaving it running on the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: 126}, fmt.Errorf("start %s: %w", c.Argv[0], err)
	}
	exited, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-exited:
			return
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()
	werr := cmd.Wait()
	close(exited)
	<-stopped
	res := Result{Stdout: outBuf.String(), Stderr: errBuf.String(), StdoutCut: outBuf.cut, StderrCut: errBuf.cut,
		ExitCode: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s stopped: %w", c.Argv[0], context.Cause(ctx))
	}
	// ErrWaitDelay: output still open after DrainDelay, left as documented.
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) && !errors.Is(werr, exec.ErrWaitDelay) {
		return res, werr
	}
	return res, nil
}

func tee(buf io.Writer, live io.Writer) io.Writer {
	if live == nil {
		return buf
	}
	return io.MultiWriter(buf, live)
}

// capped keeps the last limit bytes written.
type capped struct {
	limit int
	buf   bytes.Buffer
	cut   int64 // bytes dropped from the start
}

func (c *capped) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if over := c.buf.Len() - c.limit; over > 0 {
		c.buf.Next(over)
		c.cut += int64(over)
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }

// Tail returns the last n lines of s, for failure messages.
func Tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Quote renders argv so that a reader could paste it into a shell: an
// argument with anything but letters, digits and -_./:=,@%+ is single-quoted.
// Plan stand-ins (<tasks.NAME.OUTPUT>) do not count: the value they stand
// for decides, when it is known.
func Quote(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		probe := standIn.ReplaceAllString(a, "x")
		if probe != "" && strings.IndexFunc(probe, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) < 0 {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}

var standIn = regexp.MustCompile(`<tasks\.[A-Za-z_]\w*\.[A-Za-z_]\w*>`)
