//go:build e2e

// The control plane and the node go away during a run (issue 32): the
// default pipeline runs while test/cluster/fault.sh restarts a component
// of the project cluster, at the moment the run's JSON event stream says a
// chosen task started. Identifiers start with "cp".
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cpFault is one fault at one point of the default pipeline.
type cpFault struct {
	kind string   // names the fault in figures, e.g. "kube-apiserver SIGKILL 3s"
	args []string // fault.sh's arguments
	// apiDown: the fault takes the API server away (the run must say so).
	apiDown bool
}

// cpPoint is where in the run the fault is injected: when task starts.
type cpPoint struct {
	task string
	// extra kbrun arguments for this point (a shorter task timeout).
	extra []string
}

// cpFaults are the faults of the harness, each short enough to fit in
// every task's timeout of the default pipeline.
var cpFaults = []cpFault{
	{"kube-apiserver SIGKILL, down 3s", []string{"restart", "kube-apiserver", "--signal", "KILL", "--down", "3"}, true},
	{"kube-apiserver SIGTERM, down 3s", []string{"restart", "kube-apiserver", "--signal", "TERM", "--down", "3"}, true},
	{"etcd SIGKILL, down 3s", []string{"restart", "etcd", "--signal", "KILL", "--down", "3"}, true},
	{"kubelet SIGKILL, down 3s", []string{"restart", "kubelet", "--signal", "KILL", "--down", "3"}, false},
	{"containerd SIGKILL, down 3s", []string{"restart", "containerd", "--signal", "KILL", "--down", "3"}, false},
	{"node NotReady 20s", []string{"notready", "--for", "20"}, false},
}

// cpPoints are the measured points of the default pipeline: the builder's
// deploy, the copy, the build exec, the test rollout, the cleanup.
var cpPoints = []cpPoint{{task: "builder"}, {task: "copy"}, {task: "build"}, {task: "test"}, {task: "cleanup"}}

// cpInjection is one fault.sh run, started by the event stream.
type cpInjection struct {
	mu      sync.Mutex
	started bool
	done    chan struct{}
	out     bytes.Buffer
	err     error
	times   struct{ Sent, Gone, Started, Healthy int64 }
}

// cpFaultScript is the harness's fault script.
func cpFaultScript() string { return filepath.Join(repoRoot, "test", "cluster", "fault.sh") }

// start runs fault.sh once (later calls do nothing).
func (in *cpInjection) start(args []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.started {
		return
	}
	in.started = true
	in.done = make(chan struct{})
	go func() {
		defer close(in.done)
		cmd := exec.Command(cpFaultScript(), args...)
		cmd.Stdout = &in.out
		cmd.Stderr = &in.out
		in.err = cmd.Run()
		lines := strings.Split(strings.TrimSpace(in.out.String()), "\n")
		if in.err == nil {
			in.err = json.Unmarshal([]byte(lines[len(lines)-1]), &in.times)
		}
	}()
}

// wait waits for fault.sh to end (it ends when the cluster is healthy).
func (in *cpInjection) wait(t *testing.T) {
	t.Helper()
	in.mu.Lock()
	started := in.started
	in.mu.Unlock()
	if !started {
		return
	}
	select {
	case <-in.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("fault.sh did not end within 5 minutes:\n%s", in.out.String())
	}
	if in.err != nil {
		t.Fatalf("fault.sh %v:\n%s", in.err, in.out.String())
	}
}

// cpOutcome is one run with one fault, for the figures.
type cpOutcome struct {
	fault, point string
	injected     bool
	passed       bool
	duration     time.Duration
	outage       time.Duration // from the signal until the cluster was healthy again
	left         int           // objects the run left in its namespace (goal 0)
	err          string
}

// cpRun runs the default pipeline in a fresh namespace with f injected when
// p's task starts, and checks the expectations: it passes (or, with
// wantFail, fails naming the outage), and leaves nothing behind.
func cpRun(t *testing.T, f cpFault, p cpPoint, wantFail string) cpOutcome {
	t.Helper()
	ns := relNamespace(t, "cp-"+strings.ReplaceAll(strings.ToLower(p.task), "_", "-"))
	in := &cpInjection{}
	args := relPipelineArgs(ns, append([]string{"--timeout", "8m"}, p.extra...)...)
	r := relKbrun(t, relOpts{args: args, timeout: 12 * time.Minute, onEvent: func(e relEvent, _ *os.Process) {
		if e.Type == "task.start" && e.Task == p.task {
			in.start(f.args)
		}
	}})
	in.wait(t)
	o := cpOutcome{fault: f.kind, point: p.task, injected: in.started, passed: r.code == 0, duration: r.duration}
	if in.started {
		o.outage = time.Duration(in.times.Healthy-in.times.Sent) * time.Millisecond
	}
	var errs []string
	for _, e := range r.events {
		if e.Type == "run.end" || e.Type == "task.end" && e.Status == "failed" {
			errs = append(errs, e.Error)
		}
	}
	o.err = strings.Join(errs, "\n")
	// Nothing left, whatever the outcome: the namespace the run made is
	// gone, and `kbrun cleanup` finds nothing of it.
	o.left = len(relLeftovers(t, ns))
	relAssertNamespaceGone(t, ns)
	c := relKbrun(t, relOpts{args: []string{"cleanup", "--expired", "-n", ns, "--dry-run"}})
	if c.code != 0 || !strings.Contains(c.stdout, "nothing to clean up") {
		t.Errorf("kbrun cleanup --expired -n %s --dry-run after the run: exit %d\n%s%s", ns, c.code, c.stdout, c.stderr)
	}
	relDeleteNamespace(t, ns)
	relLogf(t, "fault %q at %s: injected %v, exit %d in %s, outage (signal to healthy) %s, objects left %d, api notes %d/%d; %s",
		f.kind, p.task, in.started, r.code, r.duration.Round(100*time.Millisecond), o.outage.Round(100*time.Millisecond), o.left,
		len(r.eventsOf("api.down")), len(r.eventsOf("api.back")), strings.TrimSpace(lastLine(in.out.String())))
	// What the run waited out and repeated, to see which path absorbed the fault.
	for _, e := range r.events {
		if e.Type == "task.retry" || e.Type == "request.retry" {
			relLogf(t, "  %s %s attempt %d: %s", e.Type, e.Task, e.Attempt, strings.SplitN(e.Error, "\n", 2)[0])
		}
	}
	if !in.started {
		t.Errorf("task %s never started: fault not injected\n%s", p.task, r.summary())
		return o
	}
	switch {
	case wantFail == "" && r.code != 0:
		t.Errorf("the run failed with %s at %s (outage %s fits every task's timeout)\n%s", f.kind, p.task, o.outage.Round(time.Second), r.summary())
	case wantFail != "" && r.code != 1:
		t.Errorf("exit %d; want 1: the outage was longer than the task's timeout\n%s", r.code, r.summary())
	case wantFail != "" && !strings.Contains(o.err, wantFail):
		t.Errorf("the run's error does not name the outage (%q):\n%s", wantFail, o.err)
	}
	if wantFail != "" && r.ends["cleanup"].Status != "ok" {
		t.Errorf("cleanup did not complete once the API server was back: %+v", r.ends["cleanup"])
	}
	// An API server gone for seconds is said, and its return too.
	if f.apiDown && p.task != "cleanup" && (len(r.eventsOf("api.down")) == 0 || len(r.eventsOf("api.back")) == 0) {
		t.Errorf("no api.down/api.back events for %s at %s", f.kind, p.task)
	}
	if o.left != 0 {
		t.Errorf("the run left %d objects in %s", o.left, ns)
	}
	return o
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// cpHealthy fails the test unless the cluster is healthy (status.sh):
// before a fault, so that a fault is never blamed for an earlier one.
func cpHealthy(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(repoRoot, "test", "cluster", "status.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("the cluster is not healthy before the fault:\n%s", out)
	}
}

// TestControlPlaneFaults is the cut form of the fault matrix that runs in
// make test (under 3 minutes): the API server killed during the copy (it
// passes), and the API server gone for longer than the test rollout's
// timeout (the run fails naming the outage, and cleanup completes once it
// is back). The full matrix is make fault-matrix (controlplane_matrix_test.go);
// its kubelet-during-build case passed on 2026-12-07 but left the run's
// local work folder behind once, so it is not in this cut yet.
func TestControlPlaneFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("the fault harness (test/cluster/fault.sh) restarts the project cluster's processes: run as root")
	}
	cases := []struct {
		f        cpFault
		p        cpPoint
		wantFail string
	}{
		{cpFaults[0], cpPoint{task: "copy"}, ""},
		{cpFault{"kube-apiserver SIGKILL, down 25s", []string{"restart", "kube-apiserver", "--signal", "KILL", "--down", "25"}, true},
			cpPoint{task: "test", extra: []string{"--set", "testTimeout=10s"}}, "API server has not answered"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s at %s", tc.f.kind, tc.p.task), func(t *testing.T) {
			cpHealthy(t)
			cpRun(t, tc.f, tc.p, tc.wantFail)
		})
	}
}
