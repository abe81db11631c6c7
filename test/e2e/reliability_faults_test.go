//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/test/faultproxy"
)

// relStartProxy starts a fault proxy in front of the test cluster and
// writes a kubeconfig for it.
func relStartProxy(t *testing.T, opts faultproxy.Options) (*faultproxy.Proxy, string) {
	t.Helper()
	cfg, _, _ := relAdmin(t)
	cfg.Timeout = 0 // watches and exec streams are long-lived
	p, err := faultproxy.NewForConfig(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := p.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// relRuns is how many 20 %-fault runs TestFaults20Percent makes:
// KBRUN_RELIABILITY_RUNS, default 3 (the figure, 10, is the
// KBRUN_RELIABILITY_RUNS=10 run).
func relRuns(t *testing.T) int {
	if s := os.Getenv("KBRUN_RELIABILITY_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KBRUN_RELIABILITY_RUNS=%q is not a positive number", s)
		}
		return n
	}
	return 3
}

// TestFaults20Percent runs the default pipeline through the fault proxy
// at a 20 % fault rate (429, 500, 503, dropped connections, resets, and cuts
// of watches, followed logs and exec streams): every run must pass, and the
// JSON events show the retries that happened.
func TestFaults20Percent(t *testing.T) {
	runs := relRuns(t)
	// Every request may be faulted when it arrives; established watches,
	// followed logs and exec streams may be cut, except the build's exec:
	// the pipeline runs Kaniko once per pod (retry attempts 1) and a cut
	// exec stream cannot be resumed, so a cut there must fail the run
	// (TestFaultCutBuildExec checks that it fails cleanly).
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KBRUN_RELIABILITY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KBRUN_RELIABILITY_SEED=%q: %v", s, err)
		}
		seed = n
	}
	relLogf(t, "fault proxy seed %d (KBRUN_RELIABILITY_SEED=%d repeats the fault sequence, not the timing)", seed, seed)
	p, kc := relStartProxy(t, faultproxy.Options{Rate: 0.2, Seed: seed, NoCut: relIsBuildExec})
	passed := 0
	retriesByTask := map[string]int{}
	retriesByClass := map[string]int{}
	requestRetries := map[string]int{}
	var failures []string
	for i := 1; i <= runs; i++ {
		ns := relNamespace(t, fmt.Sprintf("f20-%d", i))
		before := p.Counts()
		r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns, "--timeout", "8m")})
		after := p.Counts()
		var injected []string
		for _, k := range faultproxy.AllKinds {
			if n := after[k] - before[k]; n > 0 {
				injected = append(injected, fmt.Sprintf("%s=%d", k, n))
			}
		}
		var rs []string
		for _, e := range r.retries() {
			retriesByTask[e.Task]++
			retriesByClass[relErrClass(e.Error)]++
			rs = append(rs, fmt.Sprintf("%s#%d(%s)", e.Task, e.Attempt, relErrClass(e.Error)))
		}
		for _, e := range r.requestRetries() {
			requestRetries[e.Task+"("+relErrClass(e.Error)+")"]++
		}
		relLogf(t, "run %d/%d (%s): exit %d in %s; faults injected: %s; task retries: %d %v; requests repeated inside tasks: %d",
			i, runs, ns, r.code, r.duration.Round(time.Second), strings.Join(injected, " "), len(rs), rs, len(r.requestRetries()))
		if r.code == 0 && r.ends["logs"].Status == "ok" && r.ends["cleanup"].Status == "ok" {
			passed++
		} else {
			failures = append(failures, fmt.Sprintf("run %d (%s): exit %d\n%s", i, ns, r.code, r.summary()))
		}
		relAssertNamespaceGone(t, ns)
		relDeleteNamespace(t, ns) // in case the run failed before cleanup
	}
	relLogf(t, "20%% faults: %d/%d runs passed; proxy: %s; by class: %v; task retries by task %v, by error %v; requests repeated inside tasks %v",
		passed, runs, p.Summary(), p.CountsByClass(), retriesByTask, retriesByClass, requestRetries)
	// The events must show the retries: faults on plain requests were
	// absorbed by repeating them, and each repeat is an event.
	if c := p.CountsByClass()["request"]; c[faultproxy.Internal]+c[faultproxy.Unavailable] > 0 && len(retriesByTask)+len(requestRetries) == 0 {
		t.Errorf("requests were answered 500/503 but no retry shows in the JSON events")
	}
	if passed != runs {
		t.Errorf("%d of %d runs under 20%% faults failed:\n%s", runs-passed, runs, strings.Join(failures, "\n"))
	}
	if c := p.Counts(); c[faultproxy.Internal]+c[faultproxy.Unavailable]+c[faultproxy.Drop]+c[faultproxy.Reset] == 0 {
		t.Errorf("the proxy injected no faults: %s", p.Summary())
	}
}

// relIsBuildExec names the exec of the default pipeline's build program.
func relIsBuildExec(r *http.Request) bool {
	cmd := r.URL.Query()["command"]
	return len(cmd) > 0 && cmd[0] == "/workspace/kaniko-rootless-demo"
}

// TestFaultCutBuildExec: the build's exec stream is cut mid-build. The
// command's fate is unknown, so the task's second attempt asks the build
// program, which waits for the first build still running in the pod and
// answers with the digest it pushed (its cut stream may fail that attempt
// too): the run passes, or fails promptly with the lost stream named (no
// hang); Kaniko never runs twice in the pod; cleanup leaves no process of
// the builder pod.
func TestFaultCutBuildExec(t *testing.T) {
	ns := relNamespace(t, "cut-build")
	p, kc := relStartProxy(t, faultproxy.Options{Rate: 0, Weights: map[faultproxy.Kind]int{faultproxy.Cut: 1}, CutMin: 100 * time.Millisecond, CutMax: 100 * time.Millisecond})
	var builderUID string
	r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns), timeout: 5 * time.Minute, onEvent: func(e relEvent, _ *os.Process) {
		switch {
		case e.Type == "task.end" && e.Task == "builder":
			if pod, _ := e.Outputs["pod"].(string); pod != "" {
				builderUID = relPodUID(ns, pod)
			}
		case e.Type == "task.start" && e.Task == "build":
			p.SetRate(1) // only long-lived requests have a kind (cut)
		case e.Type == "task.end" && e.Task == "build":
			p.SetRate(0)
		}
	}})
	p.SetRate(0)
	defer relDeleteNamespace(t, ns)
	b := r.ends["build"]
	relLogf(t, "build exec cut after 100ms: exit %d in %s; build %s after %dms in %d attempts: %s; proxy: %s", r.code, r.duration.Round(100*time.Millisecond), b.Status, b.DurationMS, b.Attempt, b.Error, p.Summary())
	if p.CountsByClass()["exec"][faultproxy.Cut] == 0 {
		t.Fatalf("the build's exec stream was not cut: %s\n%s", p.Summary(), r.summary())
	}
	if b.Status == "ok" && b.Attempt == 1 {
		t.Fatalf("the build (%dms) ended before the cut (100ms after its exec began): nothing tested\n%s", b.DurationMS, r.summary())
	}
	if (r.code == 0) != (b.Status == "ok") || (r.code != 0 && r.code != 1) {
		t.Fatalf("exit %d, build %s; want 0 and ok, or 1 and failed\n%s", r.code, b.Status, r.summary())
	}
	if b.Attempt > 2 {
		t.Errorf("the build task ran %d times; at most twice", b.Attempt)
	}
	kaniko := 0
	for _, e := range r.eventsOf("task.output") {
		if e.Task == "build" && strings.HasPrefix(e.Line, "build: /kaniko/executor ") {
			kaniko++
		}
	}
	if kaniko > 1 {
		t.Errorf("Kaniko ran %d times in the builder pod; it must run once", kaniko)
	}
	if b.DurationMS > 30_000 || strings.Contains(b.Error, "timed out") {
		t.Errorf("the build failed after %dms with %q: the lost stream must end it at once", b.DurationMS, b.Error)
	}
	if c := r.ends["cleanup"]; c.Status != "ok" {
		t.Errorf("cleanup %+v", c)
	}
	relAssertNamespaceGone(t, ns)
	if builderUID != "" {
		if procs, _ := relPodProcs(builderUID); len(procs) > 0 {
			t.Errorf("processes of the builder pod still run: %q", procs)
		}
	}
}

// TestFaults100Percent: with every request faulted, the run fails within
// its bounds (no hang). An API server that answers only 503 is one that is
// not available: kbrun waits for it until the deadline (here the run's
// --timeout) and says so in an api.down event; with every kind of fault,
// the 500s, which are not waited for, fail the first cluster task after the
// configured attempts with a message naming them and the HTTP error.
func TestFaults100Percent(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		ns := relNamespace(t, "f100-503")
		p, kc := relStartProxy(t, faultproxy.Options{Rate: 1, Weights: map[faultproxy.Kind]int{faultproxy.Unavailable: 1}})
		r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns, "--timeout", "30s", "--finally-timeout", "20s"), timeout: 2 * time.Minute})
		relLogf(t, "100%% faults (503): exit %d in %s; proxy: %s", r.code, r.duration.Round(100*time.Millisecond), p.Summary())
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
		}
		downs := r.eventsOf("api.down")
		if len(downs) == 0 || !strings.Contains(downs[0].Error, "503") {
			t.Errorf("api.down events %+v, want one naming the 503s", downs)
		}
		if r.duration > 70*time.Second {
			t.Errorf("took %s: the run's 30s and the finally's 20s bound it", r.duration)
		}
		p.SetRate(0)
		relDeleteNamespace(t, ns)
	})
	for _, tc := range []struct {
		name    string
		weights map[faultproxy.Kind]int
		want    []string // one of these in the failing task's error
	}{
		{"all-kinds", nil, []string{"injected 429", "injected 500", "injected 503", "too many requests", "an error on the server", "unable to handle the request", "EOF", "connection reset", "stream error", "timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := relNamespace(t, "f100-"+strings.ToLower(tc.name))
			p, kc := relStartProxy(t, faultproxy.Options{Rate: 1, Weights: tc.weights})
			const bound = 3 * time.Minute
			r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns, "--timeout", "2m", "--finally-timeout", "1m"), timeout: bound})
			relLogf(t, "100%% faults (%s): exit %d in %s; proxy: %s", tc.name, r.code, r.duration.Round(100*time.Millisecond), p.Summary())
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
			}
			// The first cluster task fails; which one and its message.
			var failed relEvent
			for _, e := range r.events {
				if e.Type == "task.end" && e.Status == "failed" && !e.Finally {
					failed = e
					break
				}
			}
			if failed.Task == "" {
				t.Fatalf("no failed task\n%s", r.summary())
			}
			relLogf(t, "100%% faults (%s): task %s failed after %d attempt(s): %s", tc.name, failed.Task, failed.Attempt, failed.Error)
			if failed.Attempt != 3 || !strings.Contains(failed.Error, "after 3 attempts") {
				t.Errorf("task %s failed after %d attempt(s) with %q; want the configured 3 attempts named", failed.Task, failed.Attempt, failed.Error)
			}
			found := false
			for _, w := range tc.want {
				if strings.Contains(failed.Error, w) {
					found = true
				}
			}
			if !found {
				t.Errorf("error %q names none of %v", failed.Error, tc.want)
			}
			if n := len(r.retries()); n < 2 {
				t.Errorf("%d task.retry events, want 2 (3 attempts)", n)
			}
			if r.duration > 2*time.Minute {
				t.Errorf("took %s: the attempts should end long before the run timeout", r.duration)
			}
			var end relEvent
			for _, e := range r.events {
				if e.Type == "run.end" {
					end = e
				}
			}
			if end.ExitCode == nil || *end.ExitCode != 1 || end.Error == "" {
				t.Errorf("run.end %+v", end)
			}
			p.SetRate(0)
			relDeleteNamespace(t, ns)
		})
	}
}
