//go:build e2e

package e2e

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kbrun/kbrun/test/faultproxy"
)

// relInterrupt is one interruption point of the default pipeline.
type relInterrupt struct {
	name string
	sig  syscall.Signal
	// afterEnd: signal right after this task's task.end (a boundary);
	// otherwise at its task.start.
	afterEnd bool
	task     string
	// procs: wait (up to 3s) until a process of the builder pod whose
	// command line contains one of these runs, then signal: mid-copy,
	// mid-exec on this machine's node.
	procs []string
	delay time.Duration
}

// TestInterrupt sends SIGINT (and SIGTERM) at each task of the default
// pipeline, at its start and in the middle (mid-wait, mid-compile,
// mid-copy, mid-exec) and at a boundary. Every time: exit 128+n, the finally
// cleanup ran and ended ok, the run's namespace is gone with everything in
// it, and no process of the builder pod (so no remote exec) is left.
func TestInterrupt(t *testing.T) {
	for _, tc := range []relInterrupt{
		{name: "builder-mid-wait", sig: syscall.SIGINT, task: "builder", delay: 300 * time.Millisecond},
		{name: "prepare-mid-compile", sig: syscall.SIGINT, task: "buildProgram", delay: 100 * time.Millisecond},
		{name: "copy-mid-copy", sig: syscall.SIGINT, task: "copy", procs: []string{"tar -xof", "kbrun-copy"}},
		{name: "build-mid-exec", sig: syscall.SIGINT, task: "build", procs: []string{"/kaniko/executor", "kaniko-rootless-demo"}},
		{name: "boundary-after-copy", sig: syscall.SIGINT, task: "copy", afterEnd: true},
		{name: "test-mid-wait", sig: syscall.SIGINT, task: "test", delay: 200 * time.Millisecond},
		{name: "logs-mid-follow", sig: syscall.SIGINT, task: "logs"},
		{name: "sigterm-build-mid-exec", sig: syscall.SIGTERM, task: "build", procs: []string{"/kaniko/executor", "kaniko-rootless-demo"}},
	} {
		t.Run(tc.name, func(t *testing.T) { relInterruptRun(t, tc) })
	}
}

func relInterruptRun(t *testing.T, tc relInterrupt) {
	ns := relNamespace(t, "int-"+tc.name)
	var (
		mu       sync.Mutex
		sent     bool
		sentAt   time.Time
		running  string // the task that had started and not ended when the signal went
		builder  string // builder pod UID
		seenProc string
		started  = map[string]bool{}
	)
	signal := func(p *os.Process) {
		mu.Lock()
		defer mu.Unlock()
		if sent {
			return
		}
		sent, sentAt = true, time.Now()
		var open []string
		for k, v := range started {
			if v {
				open = append(open, k)
			}
		}
		running = strings.Join(open, ",")
		_ = p.Signal(tc.sig)
	}
	r := relKbrun(t, relOpts{args: relPipelineArgs(ns), timeout: 5 * time.Minute, onEvent: func(e relEvent, p *os.Process) {
		mu.Lock()
		switch e.Type {
		case "task.start":
			started[e.Task] = true
		case "task.end":
			started[e.Task] = false
		}
		if e.Type == "task.end" && e.Task == "builder" && e.Status == "ok" {
			if pod, _ := e.Outputs["pod"].(string); pod != "" {
				builder = relPodUID(ns, pod)
			}
		}
		uid := builder
		mu.Unlock()
		if e.Task != tc.task {
			return
		}
		switch {
		case tc.afterEnd && e.Type == "task.end":
			signal(p)
		case !tc.afterEnd && e.Type == "task.start":
			if len(tc.procs) > 0 {
				go func() {
					cmd := relWaitProc(uid, 3*time.Second, tc.procs...)
					mu.Lock()
					seenProc = cmd
					mu.Unlock()
					signal(p)
				}()
				return
			}
			if tc.delay > 0 {
				time.AfterFunc(tc.delay, func() { signal(p) })
				return
			}
			signal(p)
		}
	}})
	mu.Lock()
	defer mu.Unlock()
	if !sent {
		t.Fatalf("task %s never reached; no signal sent (exit %d)\n%s", tc.task, r.code, r.summary())
	}
	// Where the signal landed: the task it stopped.
	var stopped []string
	for _, e := range r.events {
		if e.Type == "task.end" && strings.Contains(e.Error, "interrupted by") {
			stopped = append(stopped, e.Task)
		}
	}
	relLogf(t, "%s at %s (running: %q; builder process seen: %q): exit %d, %s after the signal; tasks stopped: %v; cleanup %s",
		syscallName(tc.sig), tc.name, running, seenProc, r.code, r.end.Sub(sentAt).Round(100*time.Millisecond), stopped, r.ends["cleanup"].Status)
	if want := 128 + int(tc.sig); r.code != want {
		t.Errorf("exit %d, want %d\n%s", r.code, want, r.summary())
	}
	if c := r.ends["cleanup"]; c.Status != "ok" {
		t.Errorf("finally cleanup: %+v, want ok\n%s", c, r.summary())
	}
	if !strings.Contains(r.stderr, syscallName(tc.sig)+" received") {
		t.Errorf("stderr does not say %s was received:\n%s", syscallName(tc.sig), r.stderr)
	}
	if len(tc.procs) > 0 && seenProc == "" {
		if _, local := relPodProcs(""); local {
			t.Errorf("no %v process of the builder pod seen within 3s of %s's start: the signal was not mid-exec", tc.procs, tc.task)
		}
	}
	for _, e := range r.events {
		if e.Type == "task.start" && !e.Finally && e.Time.After(sentAt.Add(time.Second)) {
			t.Errorf("task %s started %s after the signal", e.Task, e.Time.Sub(sentAt))
		}
	}
	relAssertNamespaceGone(t, ns)
	// No remote exec keeps running: the builder pod is gone, and on this
	// machine's node none of its processes is left.
	if builder != "" {
		if procs, _ := relPodProcs(builder); len(procs) > 0 {
			t.Errorf("processes of the builder pod (uid %s) still run after the run: %q", builder, procs)
		}
	}
	relDeleteNamespace(t, ns)
}

func syscallName(s syscall.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// TestInterruptTwice: a second SIGINT during cleanup stops the cleanup,
// says what is left behind, and exits 130 promptly. To hold cleanup in
// progress the run goes through the fault proxy, which fails every request
// with 503 from the first SIGINT on (cleanup's deletes are retried).
// Afterwards the test deletes the namespace itself.
func TestInterruptTwice(t *testing.T) {
	ns := relNamespace(t, "int-twice")
	p, kc := relStartProxy(t, faultproxy.Options{Rate: 0, Weights: map[faultproxy.Kind]int{faultproxy.Unavailable: 1}})
	var (
		mu            sync.Mutex
		first, second time.Time
	)
	r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns), timeout: 5 * time.Minute, onEvent: func(e relEvent, proc *os.Process) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case first.IsZero() && e.Type == "task.start" && e.Task == "logs":
			p.SetRate(1)
			first = time.Now()
			_ = proc.Signal(syscall.SIGINT)
		// Cleanup's requests meet only 503s, which kbrun waits out in
		// its transport (no task.retry): its start is the moment.
		case !first.IsZero() && second.IsZero() && e.Task == "cleanup" && (e.Type == "task.start" || e.Type == "task.retry" || e.Type == "task.log"):
			second = time.Now()
			_ = proc.Signal(syscall.SIGINT)
		}
	}})
	p.SetRate(0)
	defer relDeleteNamespace(t, ns)
	mu.Lock()
	defer mu.Unlock()
	if first.IsZero() || second.IsZero() {
		t.Fatalf("signals not sent (first %v, second %v)\n%s", first, second, r.summary())
	}
	var left string
	for _, e := range r.events {
		if e.Type == "run.cleanup" {
			left = e.Reason
		}
	}
	relLogf(t, "second SIGINT %s after the first (cleanup in progress): exit %d %s after it; left-behind report: %q",
		second.Sub(first).Round(time.Millisecond), r.code, r.end.Sub(second).Round(time.Millisecond), left)
	if r.code != 130 {
		t.Errorf("exit %d, want 130\n%s", r.code, r.summary())
	}
	if d := r.end.Sub(second); d > 10*time.Second {
		t.Errorf("exited %s after the second SIGINT, want promptly", d)
	}
	if !strings.Contains(r.stderr, "received again") {
		t.Errorf("stderr does not acknowledge the second SIGINT:\n%s", r.stderr)
	}
	if !strings.Contains(left, "left behind") {
		t.Fatalf("no run.cleanup event saying what is left behind\n%s", r.summary())
	}
	for _, want := range []string{"Namespace " + ns, ns + "/kaniko-rootless-demo-deployment", ns + "/test-kaniko-rootless-deployment"} {
		if !strings.Contains(left, want) {
			t.Errorf("left-behind report lacks %q:\n%s", want, left)
		}
	}
}
