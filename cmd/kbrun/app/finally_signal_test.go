package app_test

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSignalDuringFinally: SIGTERM while a finally task runs lets it run
// to its end, then kbrun exits 143 (not PASSED, exit 0).
func TestSignalDuringFinally(t *testing.T) {
	c := newChild(t, "testdata/finally-signal.yaml")
	fifo := c.marker + ".fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	stopped := &watchWriter{w: &c.stderr, want: "SIGTERM received: stopping the run", seen: make(chan struct{})}
	c.cmd.Stderr = stopped
	c.start(t)
	c.waitFor(t, "task.start", "cleanup")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// kbrun says so once the run is stopped; then the cleanup may end.
	select {
	case <-stopped.seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("kbrun did not take the signal\n%s", stopped.String())
	}
	opened := make(chan error, 1)
	go func() {
		// Opening for writing waits for the cleanup's cat; closing gives it EOF.
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			err = f.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the cleanup never read its FIFO\n%s", stopped.String())
	}
	if code := c.wait(t); code != 143 {
		t.Errorf("exit %d, want 143\n%s", code, stopped.String())
	}
	if !exists(c.marker + ".cleanup") {
		t.Errorf("the cleanup did not run to its end\n%s", stopped.String())
	}
	if got := junitCleanup(t, c.junit); got != "ok" {
		t.Errorf("JUnit cleanup %s", got)
	}
}

// watchWriter keeps what kbrun writes to stderr and closes seen once it
// has written want.
type watchWriter struct {
	mu   sync.Mutex
	w    *bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.w.Write(p)
	if strings.Contains(w.w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}
