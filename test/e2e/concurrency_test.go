//go:build e2e

package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbrun/kbrun/test/apicost"
	"github.com/kbrun/kbrun/test/faultproxy"
)

// concRun is one of several kbrun runs started at the same instant, each
// behind its own faultproxy (faults off) that logs its requests.
type concRun struct {
	ns, builder, test string
	res               *relResult
	reqs              []faultproxy.Request
}

// runAtOnce starts every run at the same instant and waits for all.
func runAtOnce(t *testing.T, runs []*concRun) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range runs {
		p, kc := relStartProxy(t, faultproxy.Options{})
		args := relPipelineArgs(r.ns, "--set", "builderName="+r.builder, "--set", "testName="+r.test)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r.res = relKbrun(t, relOpts{kubeconfig: kc, args: args, timeout: 10 * time.Minute})
			r.reqs = p.Log()
		}()
	}
	close(start)
	wg.Wait()
}

// namespaceOf is the namespace a request path names ("" for none).
func namespaceOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "namespaces" {
			return segs[i+1]
		}
	}
	return ""
}

// writes are the requests that changed something or ran something: every
// successful one that is not a read (exec streams included).
func writes(reqs []faultproxy.Request) []faultproxy.Request {
	var out []faultproxy.Request
	for _, q := range reqs {
		switch k := apicost.Of(q); {
		case k == apicost.Discovery || k == apicost.Get || k == apicost.List || k == apicost.Watch || k == apicost.Logs:
		case k == apicost.Lease && q.Method == "GET":
		case q.Status == 101 || q.Status >= 200 && q.Status < 300:
			out = append(out, q)
		}
	}
	return out
}

// ownWrite says whether a write of run r touches only what is r's: its
// Deployments and their pods, its Lease, the namespace the runs share, or
// the Lease of a run that had ended (the last run out deletes it with the
// namespace that run left to it).
func (r *concRun) ownWrite(q faultproxy.Request, all []*concRun) bool {
	if namespaceOf(q.Path) != r.ns {
		return false
	}
	segs := strings.Split(strings.Trim(q.Path, "/"), "/")
	after := func(word string) string {
		for i := 0; i+1 < len(segs); i++ {
			if segs[i] == word {
				return segs[i+1]
			}
		}
		return ""
	}
	switch {
	case q.Path == "/api/v1/namespaces/"+r.ns:
		return true
	case strings.Contains(q.Path, "/leases"):
		lease := after("leases")
		if lease == "" || lease == "kbrun-run-"+r.res.runID {
			return true
		}
		for _, o := range all {
			if lease == "kbrun-run-"+o.res.runID && q.Method == "DELETE" && q.Time.After(runEnd(o.res)) {
				return true
			}
		}
		return false
	case strings.Contains(q.Path, "/deployments/"):
		d := after("deployments")
		return d == r.builder || d == r.test
	case strings.Contains(q.Path, "/pods/"):
		pod := after("pods")
		return strings.HasPrefix(pod, r.builder+"-") || strings.HasPrefix(pod, r.test+"-")
	}
	return false
}

// runEnd is when a run reported its end (before it released its Lease).
func runEnd(r *relResult) time.Time {
	for _, e := range r.events {
		if e.Type == "run.end" {
			return e.Time
		}
	}
	return r.end
}

func describeReq(q faultproxy.Request) string {
	s := q.Method + " " + q.Path
	if q.Query != "" {
		if u, err := url.QueryUnescape(q.Query); err == nil && len(u) < 120 {
			s += "?" + u
		}
	}
	return fmt.Sprintf("%s -> %d", s, q.Status)
}

// TestConcurrentRuns: runs of the default pipeline started at the same
// instant. In three namespaces: all pass, and no request of one names
// another's namespace. Five in one namespace with their own names
// (builderName, testName): all pass, and none changes an object of
// another. Three in one namespace with the same names: exactly one passes;
// the others are refused at the first object the winner holds, with the
// message naming the winner, and change nothing of its.
func TestConcurrentRuns(t *testing.T) {
	t.Run("three-namespaces", func(t *testing.T) {
		var runs []*concRun
		for i := 0; i < 3; i++ {
			ns := relNamespace(t, fmt.Sprintf("conc-%d", i))
			defer relDeleteNamespace(t, ns)
			runs = append(runs, &concRun{ns: ns, builder: "kaniko-rootless-demo-deployment", test: "test-kaniko-rootless-deployment"})
		}
		start := time.Now()
		runAtOnce(t, runs)
		wall := time.Since(start)
		for _, r := range runs {
			if r.res.code != 0 {
				t.Errorf("run in %s: exit %d\n%s", r.ns, r.res.code, r.res.summary())
			}
			for _, q := range r.reqs {
				if ns := namespaceOf(q.Path); ns != "" && ns != r.ns {
					t.Errorf("the run in %s sent a request into %s: %s", r.ns, ns, describeReq(q))
				}
			}
			relLogf(t, "3 at once, run in %s: exit %d in %s, %s", r.ns, r.res.code, r.res.duration.Round(100*time.Millisecond), apicost.Count(r.reqs))
			relAssertNamespaceGone(t, r.ns)
		}
		relLogf(t, "3 runs in 3 namespaces at once: all done in %s", wall.Round(100*time.Millisecond))
	})

	t.Run("five-in-one-namespace", func(t *testing.T) {
		ns := relNamespace(t, "conc-shared")
		defer relDeleteNamespace(t, ns)
		var runs []*concRun
		for i := 0; i < 5; i++ {
			runs = append(runs, &concRun{ns: ns, builder: fmt.Sprintf("builder-%d", i), test: fmt.Sprintf("test-%d", i)})
		}
		start := time.Now()
		runAtOnce(t, runs)
		wall := time.Since(start)
		created := 0
		for _, r := range runs {
			if r.res.code != 0 {
				t.Errorf("run %s (%s): exit %d\n%s", r.res.runID, r.builder, r.res.code, r.res.summary())
			}
			for _, q := range writes(r.reqs) {
				if !r.ownWrite(q, runs) {
					t.Errorf("run %s (%s, %s) changed what is not its own: %s", r.res.runID, r.builder, r.test, describeReq(q))
				}
			}
			for _, e := range r.res.events {
				if e.Task == "namespace" && strings.Contains(e.Line, "applied namespace "+ns+" (created)") {
					created++
				}
			}
			relLogf(t, "5 at once in %s, run %s (%s): exit %d in %s, %s", ns, r.res.runID, r.builder, r.res.code, r.res.duration.Round(100*time.Millisecond), apicost.Count(r.reqs))
		}
		if created != 1 {
			t.Errorf("%d runs say they created namespace %s, want 1", created, ns)
		}
		relLogf(t, "5 runs in one namespace at once: all done in %s", wall.Round(100*time.Millisecond))
		relAssertNamespaceGone(t, ns)
	})

	t.Run("same-names-collide", func(t *testing.T) {
		ns := relNamespace(t, "conc-collide")
		defer relDeleteNamespace(t, ns)
		var runs []*concRun
		for i := 0; i < 3; i++ {
			runs = append(runs, &concRun{ns: ns, builder: "kaniko-rootless-demo-deployment", test: "test-kaniko-rootless-deployment"})
		}
		runAtOnce(t, runs)
		var winner *concRun
		for _, r := range runs {
			if r.res.code == 0 {
				if winner != nil {
					t.Fatalf("two runs with the same names passed: %s and %s", winner.res.runID, r.res.runID)
				}
				winner = r
			}
		}
		if winner == nil {
			for _, r := range runs {
				t.Logf("run %s: exit %d\n%s", r.res.runID, r.res.code, r.res.summary())
			}
			t.Fatal("no run passed")
		}
		for _, r := range runs {
			if r == winner {
				continue
			}
			b := r.res.ends["builder"]
			relLogf(t, "refused run %s: exit %d, builder %s after %d attempt(s): %s", r.res.runID, r.res.code, b.Status, b.Attempt, b.Error)
			if r.res.code != 1 || b.Status != "failed" || b.Attempt != 1 ||
				!strings.Contains(b.Error, "deployment "+ns+"/kaniko-rootless-demo-deployment belongs to run "+winner.res.runID+", which still runs") ||
				!strings.Contains(b.Error, "use another namespace or other names") {
				t.Errorf("run %s: exit %d, builder %+v\n%s", r.res.runID, r.res.code, b, r.res.summary())
			}
			// The refused runs changed nothing of the winner's: no
			// successful write on a Deployment or pod, no exec.
			for _, q := range writes(r.reqs) {
				if strings.Contains(q.Path, "/deployments") || strings.Contains(q.Path, "/pods") {
					t.Errorf("refused run %s changed the winner's objects: %s", r.res.runID, describeReq(q))
				}
			}
		}
		relLogf(t, "3 runs with the same names in %s at once: %s passed in %s", ns, winner.res.runID, winner.res.duration.Round(100*time.Millisecond))
		relAssertNamespaceGone(t, ns)
	})
}
