//go:build e2e

package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
)

// Issue 12: nothing is left behind, whatever ends a run. The tests below
// end the default pipeline at each of these points.
var relStopPoints = []relInterrupt{
	{name: "builder-start", task: "builder"},
	{name: "builder-mid-wait", task: "builder", delay: 300 * time.Millisecond},
	{name: "prepare-mid-compile", task: "buildProgram", delay: 100 * time.Millisecond},
	{name: "copy-mid-copy", task: "copy", procs: []string{"tar -xof", "kbrun-copy"}},
	{name: "boundary-after-copy", task: "copy", afterEnd: true},
	{name: "build-mid-exec", task: "build", procs: []string{"/kaniko/executor", "kaniko-rootless-demo"}},
	{name: "test-mid-wait", task: "test", delay: 200 * time.Millisecond},
	{name: "logs-start", task: "logs"},
}

// relStopped is a kbrun run ended at a point.
type relStopped struct {
	r        *relResult
	sent     bool
	sentAt   time.Time
	seenProc string
}

// relRunUntil runs kbrun with o until point pt, then calls stop once. A
// mid-copy or mid-exec point depends on seeing the process in the pod in
// time (the copy lasts a few hundred ms): when it was missed, the run is
// repeated, at most three times in all; what a missed attempt left is
// taken over by the next runs like any leftover.
func relRunUntil(t *testing.T, ns string, pt relInterrupt, o relOpts, stop func(p *os.Process)) *relStopped {
	t.Helper()
	_, local := relPodProcs("")
	for attempt := 1; ; attempt++ {
		st := relRunOnce(t, ns, pt, o, stop)
		if st.sent || !local {
			return st
		}
		if attempt == 3 {
			t.Fatalf("no %v process of the builder pod seen within 3s of %s's start in %d runs: never mid-%s", pt.procs, pt.task, attempt, pt.task)
		}
		relLogf(t, "%s: no %v process seen in time (exit %d); running again", pt.name, pt.procs, st.r.code)
	}
}

func relRunOnce(t *testing.T, ns string, pt relInterrupt, o relOpts, stop func(p *os.Process)) *relStopped {
	t.Helper()
	st := &relStopped{}
	var (
		mu      sync.Mutex
		builder string
	)
	fire := func(p *os.Process, proc string) {
		mu.Lock()
		if st.sent {
			mu.Unlock()
			return
		}
		st.sent, st.sentAt, st.seenProc = true, time.Now(), proc
		mu.Unlock()
		stop(p)
	}
	o.onEvent = func(e relEvent, p *os.Process) {
		if e.Type == "task.end" && e.Task == "builder" && e.Status == "ok" {
			if pod, _ := e.Outputs["pod"].(string); pod != "" {
				uid := relPodUID(ns, pod)
				mu.Lock()
				builder = uid
				mu.Unlock()
			}
		}
		if e.Task != pt.task {
			return
		}
		switch {
		case pt.afterEnd && e.Type == "task.end":
			fire(p, "")
		case !pt.afterEnd && e.Type == "task.start":
			mu.Lock()
			uid := builder
			mu.Unlock()
			switch {
			case len(pt.procs) > 0:
				// Missed on this machine's node: no signal, the run ends
				// by itself and is repeated. On another cluster's node
				// processes cannot be seen: signal after the wait.
				go func() {
					proc := relWaitProc(uid, 3*time.Second, pt.procs...)
					if _, local := relPodProcs(""); proc != "" || !local {
						fire(p, proc)
					}
				}()
			case pt.delay > 0:
				time.AfterFunc(pt.delay, func() { fire(p, "") })
			default:
				fire(p, "")
			}
		}
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Minute
	}
	st.r = relKbrun(t, o)
	if !st.sent && len(pt.procs) == 0 {
		t.Fatalf("point %s never reached (exit %d)\n%s", pt.name, st.r.code, st.r.summary())
	}
	return st
}

// relUserObjects creates, as a user would by hand, a Deployment and a
// Lease in ns (the kinds kbrun creates there), and returns a check that
// they are still there, unchanged.
func relUserObjects(t *testing.T, ns string) func(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	zero := int32(0)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "users-app", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "users-app"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "users-app"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	d, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the user's deployment: %v", err)
	}
	holder := "someone"
	l, err := client.CoordinationV1().Leases(ns).Create(ctx, &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "users-lock", Namespace: ns},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the user's lease: %v", err)
	}
	return func(t *testing.T) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if got, err := client.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{}); err != nil || got.UID != d.UID {
			t.Errorf("the user's deployment %s/%s: %v (uid %v, was %s)", ns, d.Name, err, got.UID, d.UID)
		}
		if got, err := client.CoordinationV1().Leases(ns).Get(ctx, l.Name, metav1.GetOptions{}); err != nil || got.UID != l.UID {
			t.Errorf("the user's lease %s/%s: %v", ns, l.Name, err)
		}
	}
}

// relMakeNamespace creates ns for runs with createNamespace=false.
func relMakeNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { relDeleteNamespace(t, ns) })
}

// relRunObjects lists what carries run id's kbrun.dev/run label: in ns,
// every listable namespaced kind; and Namespaces.
func relRunObjects(t *testing.T, ns, id string) []string {
	t.Helper()
	if id == "" {
		t.Fatal("no run id (no run.start event)")
	}
	_, dyn, disc := relAdmin(t)
	lists, err := discovery.ServerPreferredResources(disc)
	if err != nil && len(lists) == 0 {
		t.Fatalf("discovery: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: "kbrun.dev/run=" + id}
	var out []string
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !relHas(res.Verbs, "list") || res.Kind == "Event" {
				continue
			}
			ri := dyn.Resource(gv.WithResource(res.Name))
			var items []string
			if res.Namespaced {
				list, err := ri.Namespace(ns).List(ctx, sel)
				if err != nil {
					continue
				}
				for _, it := range list.Items {
					items = append(items, res.Kind+"/"+it.GetName())
				}
			} else if res.Kind == "Namespace" {
				list, err := ri.List(ctx, sel)
				if err != nil {
					t.Fatalf("list namespaces: %v", err)
				}
				for _, it := range list.Items {
					items = append(items, "Namespace/"+it.GetName())
				}
			}
			out = append(out, items...)
		}
	}
	sort.Strings(out)
	return out
}

// relWorkFolders lists run id's local work folders.
func relWorkFolders(id string) []string {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "kbrun-"+id+"-*"))
	return dirs
}

// relJUnit returns each testcase's status in a JUnit file.
func relJUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("JUnit report %s: %v\n%s", path, err, data)
	}
	out := map[string]string{}
	for _, c := range doc.Suites[0].Cases {
		switch {
		case c.Failure != nil:
			out[c.Name] = "failed: " + c.Failure.Message
		case c.Skipped != nil:
			out[c.Name] = "skipped: " + c.Skipped.Message
		default:
			out[c.Name] = "ok"
		}
	}
	return out
}

// relStopSignals end a run the way Ctrl-C does; SIGPIPE is kbrun's stdout
// closed by its reader (`kbrun run ... | head`).
var relStopSignals = []struct {
	name string
	sig  syscall.Signal
	code int
}{
	{"SIGHUP", syscall.SIGHUP, 129},
	{"SIGQUIT", syscall.SIGQUIT, 131},
	{"SIGTERM", syscall.SIGTERM, 143},
	{"SIGPIPE", syscall.SIGPIPE, 141},
}

// TestStopSignalsLeaveNothing ends the default pipeline by SIGHUP,
// SIGQUIT, SIGTERM and a closed stdout at each point (SIGINT: see
// TestInterrupt). Every time: exit 128+n, the finally cleanup ran and
// passed (JUnit report), nothing labelled with the run's id is left, no
// work folder of the run is left, and a user's Deployment and Lease in the
// same namespace are untouched. The runs use a namespace the test made
// (createNamespace=false), so cleanup does not wait for a namespace to go.
func TestStopSignalsLeaveNothing(t *testing.T) {
	for _, sig := range relStopSignals {
		t.Run(sig.name, func(t *testing.T) {
			ns := relNamespace(t, "stop-"+strings.ToLower(sig.name))
			relMakeNamespace(t, ns)
			usersIntact := relUserObjects(t, ns)
			for _, pt := range relStopPoints {
				t.Run(pt.name, func(t *testing.T) {
					junit := filepath.Join(t.TempDir(), "junit.xml")
					o := relOpts{args: relPipelineArgs(ns, "--set", "createNamespace=false", "--junit", junit)}
					stdoutGone := make(chan struct{})
					if sig.sig == syscall.SIGPIPE {
						o.closeStdout = stdoutGone
					}
					st := relRunUntil(t, ns, pt, o, func(p *os.Process) {
						if sig.sig == syscall.SIGPIPE {
							close(stdoutGone)
							return
						}
						_ = p.Signal(sig.sig)
					})
					r := st.r
					cases := relJUnit(t, junit)
					want := sig.code
					// What the signal stopped, and what it kept from starting.
					var stopped, notStarted []string
					for name, status := range cases {
						switch {
						case strings.HasPrefix(status, "failed") && strings.Contains(status, "interrupted by"):
							stopped = append(stopped, name)
						case strings.HasPrefix(status, "skipped") && strings.Contains(status, "interrupted by"):
							notStarted = append(notStarted, name)
						}
					}
					sort.Strings(stopped)
					sort.Strings(notStarted)
					if len(stopped) == 0 && len(notStarted) == 0 && cases["health"] == "ok" {
						// Every task had ended when the signal took effect
						// (the last ones take ~100 ms after logs starts,
						// and the test hears of a start only after it):
						// a signal, or a reader leaving, after the work
						// is done never turns a green run red.
						want = 0
					}
					objects, folders := relRunObjects(t, ns, r.runID), relWorkFolders(r.runID)
					relLogf(t, "| %s | %s | %d | %s | %d not started | %s | %d | %d | %s |", sig.name, pt.name, r.code,
						strings.Join(stopped, ", "), len(notStarted), cases["cleanup"], len(objects), len(folders),
						r.end.Sub(st.sentAt).Round(100*time.Millisecond))
					if r.code != want {
						t.Errorf("exit %d, want %d\n%s", r.code, want, r.summary())
					}
					if cases["cleanup"] != "ok" {
						t.Errorf("finally cleanup: %s\n%s", cases["cleanup"], r.summary())
					}
					if len(objects) > 0 || len(folders) > 0 {
						t.Errorf("left behind: objects %v, work folders %v", objects, folders)
					}
					if sig.sig != syscall.SIGPIPE && !strings.Contains(r.stderr, sig.name+" received") {
						t.Errorf("stderr does not say %s was received:\n%s", sig.name, r.stderr)
					}
					if sig.sig == syscall.SIGPIPE && want != 0 && !strings.Contains(r.stderr, "stdout is a closed pipe") {
						t.Errorf("stderr does not say stdout closed:\n%s", r.stderr)
					}
					usersIntact(t)
				})
			}
			// Everything else the runs made (pods, replica sets) goes too.
			relWaitOnlyUsers(t, ns)
		})
	}
}

// relWaitOnlyUsers waits until ns holds nothing but the user's objects
// (named users-*, with the replica set of their Deployment) and what every
// namespace has, at most a minute.
func relWaitOnlyUsers(t *testing.T, ns string) {
	t.Helper()
	var left []string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		left = nil
		for _, o := range relLeftovers(t, ns) {
			if _, name, _ := strings.Cut(o, "/"); !strings.HasPrefix(name, "users-") {
				left = append(left, o)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("left in %s a minute after the runs: %v", ns, left)
	}
}

// TestKilledRunLeavesNothingForLong kills kbrun (SIGKILL: no cleanup can
// run) at each point. What the killed run made is then found through its
// Lease and deleted, by the next `kbrun run` of the pipeline (which must
// pass) and, separately, by `kbrun cleanup --expired`; its work folder
// goes too. A user's Deployment and Lease in the namespace survive. The
// killed runs use --lease-duration 3s so that taking over waits at most a
// few seconds.
func TestKilledRunLeavesNothingForLong(t *testing.T) {
	for _, after := range []string{"next-run", "cleanup-expired"} {
		t.Run(after, func(t *testing.T) {
			ns := relNamespace(t, "kill-"+after)
			relMakeNamespace(t, ns)
			usersIntact := relUserObjects(t, ns)
			for _, pt := range relStopPoints {
				t.Run(pt.name, func(t *testing.T) {
					st := relRunUntil(t, ns, pt, relOpts{args: relPipelineArgs(ns, "--set", "createNamespace=false", "--lease-duration", "3s"), killed: true},
						func(p *os.Process) { _ = p.Kill() })
					killed := st.r.runID
					if st.r.signaled != syscall.SIGKILL {
						t.Fatalf("kbrun ended with %d, not by SIGKILL\n%s", st.r.code, st.r.summary())
					}
					leftObjects, leftFolders := relRunObjects(t, ns, killed), relWorkFolders(killed)
					var took string
					switch after {
					case "next-run":
						r := relKbrun(t, relOpts{args: relPipelineArgs(ns, "--set", "createNamespace=false"), timeout: 5 * time.Minute})
						if r.code != 0 {
							t.Fatalf("the next run: exit %d\n%s", r.code, r.summary())
						}
						if objs := relRunObjects(t, ns, r.runID); len(objs) > 0 {
							t.Errorf("the next run left %v", objs)
						}
						if len(leftObjects) > 0 && !strings.Contains(r.stdout, "is gone") {
							t.Errorf("the next run does not say it took over what run %s left\n%s", killed, r.summary())
						}
						took = fmt.Sprintf("run %s", r.duration.Round(100*time.Millisecond))
					case "cleanup-expired":
						r := relKbrun(t, relOpts{args: []string{"cleanup", "--expired", "-n", ns}, timeout: 2 * time.Minute})
						if r.code != 0 {
							t.Fatalf("kbrun cleanup --expired: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
						}
						if len(leftObjects) > 0 && !strings.Contains(r.stdout, "run "+killed+" of pipeline kaniko-rootless is gone") {
							t.Errorf("kbrun cleanup does not name run %s:\n%s", killed, r.stdout)
						}
						took = fmt.Sprintf("cleanup %s", r.duration.Round(100*time.Millisecond))
					}
					objects, folders := relRunObjects(t, ns, killed), relWorkFolders(killed)
					relLogf(t, "| SIGKILL | %s | %s | %d: %s | %d | %s | %d | %d |", pt.name, after, len(leftObjects), strings.Join(leftObjects, " "),
						len(leftFolders), took, len(objects), len(folders))
					if len(objects) > 0 || len(folders) > 0 {
						t.Errorf("after %s, the killed run's objects %v and work folders %v remain", after, objects, folders)
					}
					usersIntact(t)
				})
			}
			relWaitOnlyUsers(t, ns)
		})
	}
}

// TestKilledRunsNamespaceIsTakenOver: a run killed right after creating
// its namespace (the default pipeline's createNamespace=true) left it
// labelled with its id; the next run finds its Lease in it, takes the
// namespace over once the Lease expired, passes, and deletes it.
func TestKilledRunsNamespaceIsTakenOver(t *testing.T) {
	ns := relNamespace(t, "kill-ns")
	defer relDeleteNamespace(t, ns)
	pt := relInterrupt{name: "after-builder", task: "builder", afterEnd: true}
	st := relRunUntil(t, ns, pt, relOpts{args: relPipelineArgs(ns, "--lease-duration", "3s"), killed: true}, func(p *os.Process) { _ = p.Kill() })
	killed := st.r.runID
	left := relRunObjects(t, ns, killed)
	if !relHas(left, "Namespace/"+ns) {
		t.Fatalf("the killed run's namespace is not labelled as its: %v", left)
	}
	r := relKbrun(t, relOpts{args: relPipelineArgs(ns)})
	if r.code != 0 {
		t.Fatalf("the next run: exit %d\n%s", r.code, r.summary())
	}
	relLogf(t, "killed after builder: left %v; the next run passed in %s", left, r.duration.Round(100*time.Millisecond))
	var taken bool
	for _, e := range r.events {
		if e.Task == "namespace" && strings.Contains(e.Line, "namespace "+ns+" was left by run "+killed) {
			taken = true
		}
	}
	if !taken {
		t.Errorf("the namespace task does not say it took %s over from run %s\n%s", ns, killed, r.summary())
	}
	relAssertNamespaceGone(t, ns)
	if objs := relRunObjects(t, ns, killed); len(objs) > 0 {
		t.Errorf("left of the killed run: %v", objs)
	}
}

// TestSecondRunInTheSameNamespace: while a run is alive, a second run of
// the pipeline in the same namespace with the same object names is
// refused at the first object the live run holds (exit 1, a message naming
// the run and what to do) and leaves the live run's objects alone: the
// first run passes. With other names (--set builderName/testName) two runs
// share the namespace, both pass, and whichever ends last deletes the
// namespace.
func TestSecondRunInTheSameNamespace(t *testing.T) {
	t.Run("same-names-refused", func(t *testing.T) {
		ns := relNamespace(t, "same-ns")
		defer relDeleteNamespace(t, ns)
		var (
			second    *relResult
			firstProc *os.Process
			resumed   sync.Once
		)
		done := make(chan struct{})
		// The first run is paused (SIGSTOP) once it holds both of its
		// Deployments, so that the second reaches them while the first has
		// them; it resumes when the second watches its lease, and renews it.
		first := relKbrun(t, relOpts{args: relPipelineArgs(ns), onEvent: func(e relEvent, p *os.Process) {
			if e.Type == "task.end" && e.Task == "copy" {
				firstProc = p
				_ = p.Signal(syscall.SIGSTOP)
				go func() {
					second = relKbrun(t, relOpts{args: relPipelineArgs(ns), onEvent: func(e relEvent, _ *os.Process) {
						if strings.Contains(e.Line, "watching it for up to") {
							resumed.Do(func() { _ = firstProc.Signal(syscall.SIGCONT) })
						}
					}})
					resumed.Do(func() { _ = firstProc.Signal(syscall.SIGCONT) })
					close(done)
				}()
			}
		}})
		<-done
		if first.code != 0 {
			t.Errorf("the first run: exit %d\n%s", first.code, first.summary())
		}
		b := second.ends["builder"]
		relLogf(t, "second run while the first is alive: exit %d, builder: %s", second.code, b.Error)
		if second.code != 1 || b.Status != "failed" || !strings.Contains(b.Error, "belongs to run "+first.runID+", which still runs") ||
			!strings.Contains(b.Error, "use another namespace or other names") {
			t.Errorf("the second run: exit %d, builder %+v\n%s", second.code, b, second.summary())
		}
		if b.Attempt != 1 {
			t.Errorf("the refusal was tried %d times", b.Attempt)
		}
		relAssertNamespaceGone(t, ns)
	})
	t.Run("other-names-kept-apart", func(t *testing.T) {
		ns := relNamespace(t, "apart")
		defer relDeleteNamespace(t, ns)
		var second *relResult
		done := make(chan struct{})
		names := func(p string) []string {
			return relPipelineArgs(ns, "--set", "builderName="+p+"-builder", "--set", "testName="+p+"-test")
		}
		first := relKbrun(t, relOpts{args: names("a"), onEvent: func(e relEvent, _ *os.Process) {
			if e.Type == "task.end" && e.Task == "namespace" {
				go func() {
					second = relKbrun(t, relOpts{args: names("b")})
					close(done)
				}()
			}
		}})
		<-done
		for _, r := range []*relResult{first, second} {
			if r.code != 0 {
				t.Errorf("run %s: exit %d\n%s", r.runID, r.code, r.summary())
			}
		}
		var shared bool
		for _, e := range second.events {
			if e.Task == "namespace" && strings.Contains(e.Line, "belongs to run "+first.runID+", which still runs") {
				shared = true
			}
		}
		if !shared {
			t.Errorf("the second run does not say it shares the namespace\n%s", second.summary())
		}
		relLogf(t, "two runs kept apart in %s: %s exit %d in %s, %s exit %d in %s", ns, first.runID, first.code, first.duration.Round(100*time.Millisecond),
			second.runID, second.code, second.duration.Round(100*time.Millisecond))
		relAssertNamespaceGone(t, ns)
	})
}

// TestRunWaitsForTerminatingNamespace: a run started while its namespace
// is still being deleted (held here by a finalizer the test removes once
// kbrun says it waits) waits for it to go, creates it again and passes.
func TestRunWaitsForTerminatingNamespace(t *testing.T) {
	ns := relNamespace(t, "terminating")
	defer relDeleteNamespace(t, ns)
	ctx := context.Background()
	relMakeNamespaceOnly(t, ns)
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: ns, Finalizers: []string{"kbrun.dev/test-hold"}}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var released time.Time
	r := relKbrun(t, relOpts{args: relPipelineArgs(ns), onEvent: func(e relEvent, _ *os.Process) {
		if released.IsZero() && e.Task == "namespace" && strings.Contains(e.Line, "is being deleted") {
			released = time.Now()
			if _, err := client.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
				t.Errorf("remove the finalizer: %v", err)
			}
		}
	}})
	if released.IsZero() {
		t.Fatalf("the run never said it waits for the terminating namespace (exit %d)\n%s", r.code, r.summary())
	}
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.summary())
	}
	for _, e := range r.events {
		if strings.Contains(e.Error, "may not") || strings.Contains(e.Line, "forbidden") {
			t.Errorf("blamed the user's rights: %+v", e)
		}
	}
	relLogf(t, "run started while %s was terminating: waited %dms in the namespace task, passed in %s", ns, r.ends["namespace"].DurationMS, r.duration.Round(100*time.Millisecond))
	relAssertNamespaceGone(t, ns)
}

// relMakeNamespaceOnly creates ns without a cleanup of its own.
func relMakeNamespaceOnly(t *testing.T, ns string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
}

// TestCleanupCommand: what a run kept with --keep left is listed by
// `kbrun cleanup FILE --dry-run` (nothing deleted) and deleted by `kbrun
// cleanup --run ID`; a user's objects in the namespace survive; a second
// `--run ID` finds nothing (exit 1).
func TestCleanupCommand(t *testing.T) {
	ns := relNamespace(t, "cleanup-cmd")
	relMakeNamespace(t, ns)
	usersIntact := relUserObjects(t, ns)
	kept := relKbrun(t, relOpts{args: relPipelineArgs(ns, "--set", "createNamespace=false", "--keep")})
	if kept.code != 0 {
		t.Fatalf("--keep run: exit %d\n%s", kept.code, kept.summary())
	}
	left := relRunObjects(t, ns, kept.runID)
	want := []string{"Deployment/kaniko-rootless-demo-deployment", "Deployment/test-kaniko-rootless-deployment", "Lease/kbrun-run-" + kept.runID}
	if fmt.Sprint(left) != fmt.Sprint(want) {
		t.Fatalf("the kept run left %v, want %v", left, want)
	}
	dry := relKbrun(t, relOpts{args: []string{"cleanup", pipeline, "--set", "namespace=" + ns, "--dry-run"}})
	if dry.code != 0 || !strings.Contains(dry.stdout, "run "+kept.runID+" of pipeline kaniko-rootless is gone (it ended") ||
		!strings.Contains(dry.stdout, "Deployment "+ns+"/kaniko-rootless-demo-deployment") || !strings.Contains(dry.stdout, "dry run: nothing was deleted") {
		t.Errorf("cleanup --dry-run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if now := relRunObjects(t, ns, kept.runID); fmt.Sprint(now) != fmt.Sprint(want) {
		t.Errorf("the dry run deleted something: %v left", now)
	}
	r := relKbrun(t, relOpts{args: []string{"cleanup", "--run", kept.runID, "-n", ns}})
	relLogf(t, "kbrun cleanup --run: exit %d in %s:\n%s", r.code, r.duration.Round(100*time.Millisecond), r.stdout)
	if r.code != 0 {
		t.Fatalf("cleanup --run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now := relRunObjects(t, ns, kept.runID); len(now) > 0 {
		t.Errorf("after cleanup --run: %v left", now)
	}
	usersIntact(t)
	again := relKbrun(t, relOpts{args: []string{"cleanup", "--run", kept.runID, "-n", ns}})
	if again.code != 1 || !strings.Contains(again.stderr, "no lease of run "+kept.runID) {
		t.Errorf("a second cleanup --run: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}
	relWaitOnlyUsers(t, ns)
}
