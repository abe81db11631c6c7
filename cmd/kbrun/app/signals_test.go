package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child is kbrun (this test binary as Main) running a pipeline with -o
// json, its stdout a pipe the test reads events from.
type child struct {
	cmd    *exec.Cmd
	events *bufio.Scanner
	out    *os.File // the test's read end of kbrun's stdout
	stderr bytes.Buffer
	marker string
	junit  string
}

func startChild(t *testing.T, pipeline string) *child {
	t.Helper()
	c := newChild(t, pipeline)
	c.start(t)
	return c
}

// newChild prepares kbrun to run pipeline; start starts it.
func newChild(t *testing.T, pipeline string) *child {
	dir := t.TempDir()
	c := &child{marker: filepath.Join(dir, "m"), junit: filepath.Join(dir, "junit.xml")}
	c.cmd = exec.Command(os.Args[0], "run", pipeline, "-o", "json", "--junit", c.junit, "--set", "marker="+c.marker)
	c.cmd.Env = append(os.Environ(), "KBRUN_TEST_AS_MAIN=1")
	c.cmd.Stderr = &c.stderr
	return c
}

func (c *child) start(t *testing.T) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout = w
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c.out = r
	c.events = bufio.NewScanner(r)
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
		r.Close()
	})
}

// waitFor reads events until one of type typ for task arrives.
func (c *child) waitFor(t *testing.T, typ, task string) {
	t.Helper()
	for c.events.Scan() {
		var e struct{ Type, Task string }
		if json.Unmarshal(c.events.Bytes(), &e) == nil && e.Type == typ && e.Task == task {
			return
		}
	}
	t.Fatalf("no %s event for %s; stderr:\n%s", typ, task, c.stderr.String())
}

// wait drains stdout (unless closed) and returns the exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	for c.events.Scan() {
	}
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("kbrun was killed by %s (no cleanup)\n%s", ws.Signal(), c.stderr.String())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("kbrun did not end\n%s", c.stderr.String())
	}
	return -1
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// junitCleanup returns how the cleanup testcase ended in the JUnit file.
func junitCleanup(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("JUnit report: %v\n%s", err, data)
	}
	for _, c := range doc.Suites[0].Cases {
		if c.Name == "cleanup" {
			switch {
			case c.Failure != nil:
				return "failed"
			case c.Skipped != nil:
				return "skipped"
			}
			return "ok"
		}
	}
	return "missing"
}

// Every signal that ends a run goes the way of Ctrl-C: the running task
// stops, later tasks do not start, finally runs to its end, exit 128+n.
func TestSignalsEndTheRunWithCleanup(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGHUP, "SIGHUP", 129},
		{syscall.SIGINT, "SIGINT", 130},
		{syscall.SIGQUIT, "SIGQUIT", 131},
		{syscall.SIGTERM, "SIGTERM", 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, "testdata/ticking.yaml")
			c.waitFor(t, "task.start", "ticking")
			c.cmd.Process.Signal(tc.sig)
			if code := c.wait(t); code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, c.stderr.String())
			}
			if !exists(c.marker+".cleanup") || exists(c.marker+".never") {
				t.Errorf("cleanup ran: %v, a later task ran: %v", exists(c.marker+".cleanup"), exists(c.marker+".never"))
			}
			if !strings.Contains(c.stderr.String(), tc.name+" received: stopping the run") {
				t.Errorf("stderr:\n%s", c.stderr.String())
			}
			if got := junitCleanup(t, c.junit); got != "ok" {
				t.Errorf("JUnit cleanup %s", got)
			}
		})
	}
}

// stdout into a pipe whose reader goes away (`| head`): kbrun is not
// killed by SIGPIPE; the run stops as if SIGPIPE had ended it (exit 141),
// finally runs to its end though its output has nowhere to go, and the
// JUnit file is written.
func TestBrokenStdoutEndsTheRunWithCleanup(t *testing.T) {
	c := startChild(t, "testdata/ticking.yaml")
	c.waitFor(t, "task.start", "ticking")
	c.out.Close()
	if code := c.wait(t); code != 141 {
		t.Errorf("exit %d, want 141\n%s", code, c.stderr.String())
	}
	if !exists(c.marker+".cleanup") || exists(c.marker+".never") {
		t.Errorf("cleanup ran: %v, a later task ran: %v", exists(c.marker+".cleanup"), exists(c.marker+".never"))
	}
	if !strings.Contains(c.stderr.String(), "stdout is a closed pipe (EPIPE): stopping the run") {
		t.Errorf("stderr:\n%s", c.stderr.String())
	}
	if got := junitCleanup(t, c.junit); got != "ok" {
		t.Errorf("JUnit cleanup %s", got)
	}
}

// A stream that breaks once every task has ended (here during the
// cleanup's output) changes nothing: the run stays green.
func TestBrokenStdoutAfterTheTasksKeepsTheResult(t *testing.T) {
	c := startChild(t, "testdata/quick.yaml")
	c.waitFor(t, "task.start", "cleanup")
	c.out.Close()
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, c.stderr.String())
	}
	if !exists(c.marker + ".cleanup") {
		t.Errorf("cleanup did not run to its end")
	}
	if got := junitCleanup(t, c.junit); got != "ok" {
		t.Errorf("JUnit cleanup %s", got)
	}
}
