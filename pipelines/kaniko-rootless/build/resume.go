package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// An exec whose stream is lost (the API server or the kubelet restarted
// while the build ran) leaves kbrun without the build's outcome, and the
// runtime may kill this program; Kaniko, in a session of its own writing to
// a log file (kaniko.go), goes on. kbrun then runs this program again (the
// build task's next attempt). It must not build twice in one pod (Kaniko
// writes into the pod's own file system), and the image may be pushed
// already. So each run records itself and its Kaniko in the workspace; a
// later run follows an earlier Kaniko that still runs, and answers with the
// digest it wrote when it pushed.
const stateFile = ".build-state.json"

type buildState struct {
	PID         int    `json:"pid"` // the build program
	Destination string `json:"destination"`
	// Set once Kaniko started: its PID, the executor and digest file on its
	// command line (to tell it from a later process with its PID), its log.
	KanikoPID  int    `json:"kanikoPID,omitempty"`
	Executor   string `json:"executor,omitempty"`
	Log        string `json:"log,omitempty"`
	DigestFile string `json:"digestFile,omitempty"`
	// Digest is set once the build program saw Kaniko push (its digest
	// file is written after the push).
	Digest string `json:"digest,omitempty"`
}

// resumeOrBuild builds, unless an earlier run in this pod did or does.
func resumeOrBuild(c config) (string, error) {
	path := filepath.Join(c.workspace, stateFile)
	if s, ok := readState(path); ok {
		return resume(c, path, s)
	}
	if err := writeState(path, buildState{PID: os.Getpid(), Destination: c.destination}); err != nil {
		return "", err
	}
	c.state = path
	digest, err := build(c)
	if err != nil {
		return "", err
	}
	s, _ := readState(path)
	s.Digest = digest
	return digest, writeState(path, s)
}

// resume answers for the earlier build that state s records: it waits for
// it, shows its Kaniko's output, and returns the digest it pushed.
func resume(c config, path string, s buildState) (string, error) {
	if s.Digest == "" && s.KanikoPID == 0 && buildProgramRunning(s.PID) {
		// Between its start and Kaniko's (or a state from before Kaniko
		// ran in a session of its own).
		fmt.Fprintf(os.Stderr, "build: an earlier build (PID %d) still runs in this pod (its exec stream was lost): waiting for it\n", s.PID)
		for s.KanikoPID == 0 && buildProgramRunning(s.PID) {
			time.Sleep(200 * time.Millisecond)
			if r, ok := readState(path); ok {
				s = r
			}
		}
	}
	errs := &errorLines{}
	if s.Log != "" {
		out := io.MultiWriter(quiet{os.Stderr}, errs)
		if kanikoRunning(s) {
			fmt.Fprintf(os.Stderr, "build: the Kaniko of an earlier build (PID %d) still runs in this pod (its exec stream was lost): following its output from the start (what it printed before repeats)\n", s.KanikoPID)
		} else {
			fmt.Fprintf(os.Stderr, "build: the Kaniko of an earlier build in this pod has exited; its output:\n")
		}
		if err := follow(s.Log, out, func() bool { return !kanikoRunning(s) }); err != nil {
			fmt.Fprintf(os.Stderr, "build: following Kaniko's log: %v\n", err)
		}
		errs.flush()
		if r, ok := readState(path); ok {
			s = r
		}
	}
	digest := s.Digest
	if digest == "" && s.DigestFile != "" {
		if raw, err := os.ReadFile(s.DigestFile); err == nil && digestRE.MatchString(strings.TrimSpace(string(raw))) {
			digest = strings.TrimSpace(string(raw))
		}
	}
	if digest != "" && s.Destination == c.destination {
		fmt.Fprintf(os.Stderr, "build: the earlier build pushed %s@%s; not building again\n", repository(c.destination), digest)
		if s.Digest == "" {
			s.Digest = digest
			_ = writeState(path, s) // a later run reads the digest file again
		}
		return digest, nil
	}
	why := "its output was lost with its exec stream"
	if msg := errs.String(); msg != "" {
		why = "Kaniko: " + msg
	} else if s.Log != "" {
		why = "its Kaniko's output is above"
	}
	return "", fmt.Errorf("an earlier build in this pod ended without pushing %s (%s); Kaniko builds only once per pod: run the pipeline again", c.destination, why)
}

func readState(path string) (buildState, bool) {
	var s buildState
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, false
	}
	return s, json.Unmarshal(raw, &s) == nil
}

// writeState replaces the state file at once (rename), so that a reader
// never sees half of it.
func writeState(path string, s buildState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("recording the build in the workspace: %w", err)
	}
	return os.Rename(tmp, path)
}

// buildProgramRunning reports whether pid is a run of this program (same
// executable), not a later process that got the PID.
func buildProgramRunning(pid int) bool {
	if !running(pid) {
		return false
	}
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && exe == self
}

// running reports whether process pid exists and has not exited (a zombie
// has). The PID may be another process's by now: see kanikoRunning and
// buildProgramRunning.
func running(pid int) bool {
	if pid <= 0 || pid == os.Getpid() || syscall.Kill(pid, 0) != nil {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
