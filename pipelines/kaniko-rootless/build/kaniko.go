package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Kaniko's output goes to a log file in the workspace, not to this
// program's pipes, and Kaniko runs in a session of its own: when the exec
// stream breaks and this program is killed (or gets SIGHUP or SIGPIPE),
// Kaniko goes on building and pushing. This program (or a later run, see
// resume.go) follows the log to its own stderr.
const (
	logFileName    = ".kaniko.log"
	digestFileName = "image-digest"
)

// runKaniko runs the executor with args, streams its output to stderr and
// records it in the state file (c.state) while it runs; it returns
// Kaniko's exit error and the error lines of its output. err is set when
// Kaniko could not be started.
func runKaniko(c config, args []string, digestFile string) (runErr error, errs *errorLines, err error) {
	logPath := filepath.Join(c.workspace, logFileName)
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		//lint:ignore ST1005 Kaniko is a name
		return nil, nil, fmt.Errorf("Kaniko's log: %w", err)
	}
	cmd := exec.Command(c.executor, args...)
	cmd.Dir = c.workspace
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	log.Close()
	if err != nil {
		//lint:ignore ST1005 Kaniko is a name
		return nil, nil, fmt.Errorf("Kaniko did not start: %w", err)
	}
	if c.state != "" {
		s := buildState{PID: os.Getpid(), Destination: c.destination, KanikoPID: cmd.Process.Pid,
			Executor: c.executor, Log: logPath, DigestFile: digestFile}
		if err := writeState(c.state, s); err != nil {
			fmt.Fprintf(os.Stderr, "build: %v (a later run will not find this build's Kaniko)\n", err)
		}
	}
	var exited atomic.Bool
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		exited.Store(true)
		waited <- err
	}()
	errs = &errorLines{}
	followErr := follow(logPath, io.MultiWriter(quiet{os.Stderr}, errs), exited.Load)
	runErr = <-waited
	errs.flush()
	if followErr != nil {
		fmt.Fprintf(os.Stderr, "build: following Kaniko's log: %v\n", followErr)
	}
	return runErr, errs, nil
}

// follow copies the file at path to w as it grows, until exited reports
// true, then copies the rest.
func follow(path string, w io.Writer, exited func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		// Checked before the last read: what Kaniko wrote before it
		// exited is read below.
		if exited() {
			_, err := io.Copy(w, f)
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kanikoRunning reports whether the state's Kaniko still runs: its PID is
// a live process whose command line is that Kaniko's (the executor and
// this build's digest file), not a later process that got the same PID.
func kanikoRunning(s buildState) bool {
	if s.KanikoPID <= 0 || !running(s.KanikoPID) {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.KanikoPID))
	if err != nil {
		return false
	}
	var exe, digest bool
	for _, a := range strings.Split(string(raw), "\x00") {
		exe = exe || a == s.Executor
		digest = digest || a == "--digest-file="+s.DigestFile
	}
	return exe && digest
}
