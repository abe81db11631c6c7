package app_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdGrandchild runs testdata/grandchild.yaml as a kbrun process with its
// pidfile and timeout; done gets kbrun's exit code.
func holdGrandchild(t *testing.T, pidfile, timeout string) (*exec.Cmd, chan int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run", "testdata/grandchild.yaml", "-o", "json", "--set", "pidfile="+pidfile, "--set", "timeout="+timeout)
	cmd.Env = append(os.Environ(), "KBRUN_TEST_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			done <- ee.ExitCode()
			return
		}
		done <- 0
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, done
}

// requireGone fails unless process pid exits within 5 s (it was sent
// SIGKILL before kbrun ended).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("the run ended, but the grandchild (pid %d, ignoring SIGTERM) still ran 5s later", pid)
		}
		return
	}
}

func exitIn(t *testing.T, done chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("kbrun did not end within 30s")
	}
	return -1
}

// Every signal that stops a run kills the running command's process group,
// grandchildren that ignore SIGTERM included. The grandchild's PID comes
// over a FIFO, so the signal is sent only once it runs.
func TestSignalsKillTheCommandsGroup(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "pid")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd, done := holdGrandchild(t, fifo, "5m")
			b, err := os.ReadFile(fifo) // blocks until the command has written
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Process.Signal(sig)
			if code := exitIn(t, done); code != 128+int(sig) {
				t.Errorf("exit %d, want %d", code, 128+int(sig))
			}
			requireGone(t, pid)
		})
	}
}

// A task's timeout kills its command's process group the same way.
func TestTimeoutKillsTheCommandsGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	_, done := holdGrandchild(t, pidfile, "5s")
	if code := exitIn(t, done); code != 1 {
		t.Errorf("exit %d, want 1 (the task timed out)", code)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("the command did not start its grandchild within the 5s timeout: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	requireGone(t, pid)
}
