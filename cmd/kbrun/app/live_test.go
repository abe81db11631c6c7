package app_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// session is kbrun (this test binary, see TestMain) running
// testdata/live/many.yaml. Its gate task runs until release writes to its
// FIFO, so the view can be seen with a task running, without sleeps.
type session struct {
	t      *testing.T
	cmd    *exec.Cmd
	fifo   string
	logDir string

	mu   sync.Mutex
	out  []byte
	grew chan struct{}
	read chan struct{} // closed when the output has ended
}

func startKbrun(t *testing.T, terminal bool, args ...string) *session {
	t.Helper()
	dir := t.TempDir()
	s := &session{t: t, fifo: filepath.Join(dir, "gate"), logDir: filepath.Join(dir, "logs"), grew: make(chan struct{}, 1), read: make(chan struct{})}
	if err := syscall.Mkfifo(s.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"run", "testdata/live/many.yaml", "--set", "gate=" + s.fifo, "--log-dir", s.logDir}, args...)
	s.cmd = exec.Command(os.Args[0], args...)
	s.cmd.Env = append(os.Environ(), "KBRUN_TEST_AS_MAIN=1")
	var out *os.File
	if terminal {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
			t.Fatal(err)
		}
		s.cmd.Stdout, s.cmd.Stderr = tty, tty
		out = ptmx
		defer tty.Close() // the child has its own copy
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		s.cmd.Stdout = w
		out = r
		defer w.Close()
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.read)
		defer out.Close()
		buf := make([]byte, 4096)
		for {
			n, err := out.Read(buf)
			s.mu.Lock()
			s.out = append(s.out, buf[:n]...)
			s.mu.Unlock()
			select {
			case s.grew <- struct{}{}:
			default:
			}
			if err != nil { // EOF on a pipe, EIO on a pty whose other end closed
				return
			}
		}
	}()
	return s
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(string(s.out), "\r\n", "\n")
}

// waitFor waits until the output matches re.
func (s *session) waitFor(re *regexp.Regexp) {
	s.t.Helper()
	deadline := time.After(time.Minute)
	for !re.MatchString(s.output()) {
		select {
		case <-s.grew:
		case <-s.read:
			if !re.MatchString(s.output()) {
				s.t.Fatalf("the output ended without %s:\n%s", re, s.output())
			}
		case <-deadline:
			s.t.Fatalf("no %s after a minute:\n%s", re, s.output())
		}
	}
}

// release lets the gate task end; finish waits for kbrun and its output.
func (s *session) release() {
	s.t.Helper()
	if err := os.WriteFile(s.fifo, []byte("open\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) finish() (code int, out, log string) {
	s.t.Helper()
	err := s.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.t.Fatal(err)
	}
	<-s.read
	logs, _ := filepath.Glob(filepath.Join(s.logDir, "kbrun-*.log"))
	if len(logs) == 1 {
		b, err := os.ReadFile(logs[0])
		if err != nil {
			s.t.Fatal(err)
		}
		log = string(b)
	}
	return s.cmd.ProcessState.ExitCode(), s.output(), log
}

func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func lacks(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			t.Errorf("%s has %q:\n%s", what, w, s)
		}
	}
}

// The lines every run of many.yaml writes, which the live view keeps in
// its log.
var taskLines = []string{"▶ 1.1 gate (run)", "  cells[7] | cell 7 says hello", "  gate   | waiting at the gate", "  broken | the broken line"}

func TestLiveViewFailure(t *testing.T) {
	s := startKbrun(t, true, "--set", "fail=true")
	// The twelve cells end while the gate holds: the view shows the
	// counts, the bar and the gate as the slowest task.
	s.waitFor(regexp.MustCompile(`12 done, 1 running, 0 failed +\[=+>-+\] +12/16 +slowest: gate \(\d+s\)`))
	s.release()
	code, out, log := s.finish()
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	contains(t, "the view", out,
		"✗ 2 broken failed after",
		"- 3 answer skipped",
		"14 done, 0 running, 1 failed, 1 skipped  [",
		"]  16/16\n",
		"the lines of broken, which failed:\n  broken | the broken line\n",
		"FAILED in ",
		"log: "+s.logDir+"/kbrun-")
	lacks(t, "the view", out, "cell 7 says hello", "waiting at the gate")
	contains(t, "the log", log, taskLines...)
	contains(t, "the log", log, "TASK", "STATUS", "FAILED in ")
}

func TestLiveViewAnswer(t *testing.T) {
	s := startKbrun(t, true)
	s.waitFor(regexp.MustCompile(`slowest: gate`))
	s.release()
	code, out, log := s.finish()
	if code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}
	// The last task's output is the run's answer: shown after the view,
	// as it is.
	if !regexp.MustCompile(`16 done, 0 running, 0 failed +\[=+\] +16/16\n+THE ANSWER\nis 42\n\nPASSED in .*\nlog: `).MatchString(out) {
		t.Errorf("the view does not end with the bar, the answer and PASSED:\n%s", out)
	}
	lacks(t, "the view", out, "the lines of", "broken line")
	contains(t, "the log", log, taskLines...)
}

// -v in a terminal, and a pipe: every line as it comes, no view.
func TestNoLiveView(t *testing.T) {
	for _, c := range []struct {
		name     string
		terminal bool
		args     []string
	}{
		{"pipe", false, nil},
		{"verbose", true, []string{"-v"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startKbrun(t, c.terminal, c.args...)
			s.release()
			code, out, log := s.finish()
			if code != 0 {
				t.Errorf("exit %d, want 0:\n%s", code, out)
			}
			contains(t, "stdout", out, taskLines...)
			contains(t, "stdout", out, "  answer | THE ANSWER", "PASSED in ")
			lacks(t, "stdout", out, "slowest:", "\x1b[")
			contains(t, "the log", log, taskLines...)
		})
	}
}
