package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// An exec whose stream is lost (the API server or the kubelet restarted
// while the build ran) leaves kbrun without the build's outcome, while the
// build goes on in the pod. kbrun then runs this program again (the build
// task's next attempt). It must not build twice in one pod (Kaniko writes
// into the pod's own file system), and the image may be pushed already. So
// each run records itself in the workspace; a later run waits for an
// earlier one that still runs, and answers with its digest when it pushed.
const stateFile = ".build-state.json"

type buildState struct {
	PID         int    `json:"pid"`
	Destination string `json:"destination"`
	// Digest is set once Kaniko has pushed (its digest file is written
	// after the push).
	Digest string `json:"digest,omitempty"`
}

// resumeOrBuild builds, unless an earlier run in this pod did or does.
func resumeOrBuild(c config) (string, error) {
	path := filepath.Join(c.workspace, stateFile)
	if s, ok := readState(path); ok {
		if running(s.PID) {
			fmt.Fprintf(os.Stderr, "build: an earlier build (PID %d) still runs in this pod (its exec stream was lost): waiting for it\n", s.PID)
			for running(s.PID) {
				time.Sleep(200 * time.Millisecond)
			}
			s, _ = readState(path)
		}
		if s.Digest != "" && s.Destination == c.destination {
			fmt.Fprintf(os.Stderr, "build: the earlier build pushed %s@%s; not building again\n", repository(c.destination), s.Digest)
			return s.Digest, nil
		}
		return "", fmt.Errorf("an earlier build in this pod ended without pushing %s (its output was lost with its exec stream); Kaniko builds only once per pod: run the pipeline again", c.destination)
	}
	if err := writeState(path, buildState{PID: os.Getpid(), Destination: c.destination}); err != nil {
		return "", err
	}
	digest, err := build(c)
	if err != nil {
		return "", err
	}
	return digest, writeState(path, buildState{PID: os.Getpid(), Destination: c.destination, Digest: digest})
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

// running reports whether process pid exists and has not exited (a zombie
// has). PIDs in the pod's namespace are not reused within a pod's life in
// practice (they grow up to pid_max first).
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
