//go:build e2e

// Reliability tests of issue 6 (fault injection, interruption, least
// privilege), in files named reliability_*_test.go. They share this
// package's TestMain (KBRUN_TEST_KUBECONFIG, the kbrun binary in kbrunBin)
// and use their own namespaces, named rel-*. Identifiers here start with
// "rel" so that they never collide with the rest of the package.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// relEvent is one of kbrun's JSON events, with the fields these tests read.
type relEvent struct {
	Time        time.Time      `json:"time"`
	Type        string         `json:"type"`
	RunID       string         `json:"runId"`
	Task        string         `json:"task"`
	TaskType    string         `json:"taskType"`
	Index       string         `json:"index"`
	Finally     bool           `json:"finally"`
	Attempt     int            `json:"attempt"`
	MaxAttempts int            `json:"maxAttempts"`
	Stream      string         `json:"stream"`
	Line        string         `json:"line"`
	Status      string         `json:"status"`
	Reason      string         `json:"reason"`
	Error       string         `json:"error"`
	WaitMS      int64          `json:"waitMs"`
	DurationMS  int64          `json:"durationMs"`
	ExitCode    *int           `json:"exitCode"`
	Outputs     map[string]any `json:"outputs"`
}

// relOpts configure one kbrun process.
type relOpts struct {
	kubeconfig string // default: KBRUN_TEST_KUBECONFIG
	args       []string
	// onEvent sees every JSON event as it arrives, with the process (to
	// signal it). It runs on the reading goroutine: do not block long.
	onEvent func(e relEvent, p *os.Process)
	timeout time.Duration // default 10m; the process is killed after it
	// closeStdout, when closed, makes the test close its end of kbrun's
	// stdout (a reader that goes away, as `| head` does); no events are
	// read after that.
	closeStdout chan struct{}
	// killed: kbrun is meant to be killed by a signal (SIGKILL).
	killed bool
}

// relResult is how a kbrun process ended.
type relResult struct {
	code     int
	signaled syscall.Signal // the signal that killed kbrun (with killed)
	runID    string
	events   []relEvent
	stdout   string
	stderr   string
	duration time.Duration
	end      time.Time
	ends     map[string]relEvent // task.end by task
}

var relMu sync.Mutex

// relKbrun runs kbrun with args (plus --kubeconfig and -o json when absent)
// from the repository root, streaming its events to o.onEvent.
func relKbrun(t *testing.T, o relOpts) *relResult {
	t.Helper()
	if o.kubeconfig == "" {
		o.kubeconfig = kubeconfig
	}
	if o.timeout == 0 {
		o.timeout = 10 * time.Minute
	}
	args := append([]string{}, o.args...)
	args = append(args, "--kubeconfig", o.kubeconfig)
	cmd := exec.Command(kbrunBin, args...)
	cmd.Dir = repoRoot
	// A fresh discovery cache per run: discovery goes through the same
	// path (proxy, credentials) as everything else.
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "KUBECACHEDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kbrun: %v", err)
	}
	killer := time.AfterFunc(o.timeout, func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	defer killer.Stop()
	if o.closeStdout != nil {
		go func() {
			<-o.closeStdout
			out.Close()
		}()
	}
	r := &relResult{ends: map[string]relEvent{}}
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		stdout.WriteString(line + "\n")
		var e relEvent
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		r.events = append(r.events, e)
		if e.Type == "run.start" {
			r.runID = e.RunID
		}
		if e.Type == "task.end" {
			r.ends[e.Task] = e
		}
		if o.onEvent != nil {
			o.onEvent(e, cmd.Process)
		}
	}
	err = cmd.Wait()
	r.end = time.Now()
	r.duration = r.end.Sub(start)
	r.stdout, r.stderr = stdout.String(), errBuf.String()
	if !killer.Stop() {
		t.Fatalf("kbrun %s did not end within %s (killed): a hang\n%s", strings.Join(o.args, " "), o.timeout, r.summary())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if !o.killed {
				t.Fatalf("kbrun was killed by %s\n%s", ws.Signal(), r.summary())
			}
			r.signaled = ws.Signal()
		}
	} else if err != nil {
		t.Fatalf("kbrun: %v", err)
	}
	t.Logf("kbrun %s: exit %d in %s", strings.Join(o.args, " "), r.code, r.duration.Round(100*time.Millisecond))
	return r
}

// summary is a readable digest of the run for failure messages.
func (r *relResult) summary() string {
	var b strings.Builder
	for _, e := range r.events {
		switch e.Type {
		case "task.start":
			fmt.Fprintf(&b, "  > %s\n", e.Task)
		case "task.retry":
			fmt.Fprintf(&b, "  ~ %s retry after attempt %d/%d (wait %dms): %s\n", e.Task, e.Attempt, e.MaxAttempts, e.WaitMS, e.Error)
		case "request.retry":
			fmt.Fprintf(&b, "  ~ %s request repeated after try %d: %s\n", e.Task, e.Attempt, e.Error)
		case "task.end":
			fmt.Fprintf(&b, "  < %-14s %-8s %6dms %s %s\n", e.Task, e.Status, e.DurationMS, e.Reason, e.Error)
		case "task.log":
			fmt.Fprintf(&b, "    %s| %s\n", e.Task, e.Line)
		case "run.cleanup", "run.end":
			fmt.Fprintf(&b, "  %s %s %s\n", e.Type, e.Reason, e.Error)
		}
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "stderr:\n%s", r.stderr)
	}
	return b.String()
}

// retries returns the run's task.retry events.
func (r *relResult) retries() []relEvent { return r.eventsOf("task.retry") }

// requestRetries returns the requests repeated inside tasks.
func (r *relResult) requestRetries() []relEvent { return r.eventsOf("request.retry") }

func (r *relResult) eventsOf(typ string) []relEvent {
	var out []relEvent
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// relErrClass names the kind of error a retry was for, from its text.
func relErrClass(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "injected 429") || strings.Contains(m, "too many requests"):
		return "429"
	case strings.Contains(m, "injected 500") || strings.Contains(m, "internal error"):
		return "500"
	case strings.Contains(m, "injected 503") || strings.Contains(m, "unable to handle the request"):
		return "503"
	case strings.Contains(m, "connection reset"):
		return "reset"
	case strings.Contains(m, "stream error") || strings.Contains(m, "internal_error"):
		return "stream-reset"
	case strings.Contains(m, "eof"):
		return "eof"
	case strings.Contains(m, "forbidden"):
		return "forbidden"
	}
	return "other"
}

var (
	relCfgOnce sync.Once
	relCfg     *rest.Config
	relDyn     dynamic.Interface
	relDisc    discovery.DiscoveryInterface
	relCfgErr  error
)

// relAdmin returns the test's own (admin) clients for KBRUN_TEST_KUBECONFIG.
func relAdmin(t *testing.T) (*rest.Config, dynamic.Interface, discovery.DiscoveryInterface) {
	t.Helper()
	relCfgOnce.Do(func() {
		relCfg, relCfgErr = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if relCfgErr != nil {
			return
		}
		relCfg.Timeout = 30 * time.Second
		// Listing every kind of a namespace is ~50 requests: client-go's
		// default 5 per second would make each check take 10 s.
		relCfg.QPS, relCfg.Burst = 100, 200
		// Listing every kind includes v1 Endpoints, whose deprecation
		// warning would otherwise fill the test output once per scan.
		relCfg.WarningHandler = rest.NoWarnings{}
		if relDyn, relCfgErr = dynamic.NewForConfig(relCfg); relCfgErr != nil {
			return
		}
		relDisc, relCfgErr = discovery.NewDiscoveryClientForConfig(relCfg)
	})
	if relCfgErr != nil {
		t.Fatalf("admin clients: %v", relCfgErr)
	}
	return rest.CopyConfig(relCfg), relDyn, relDisc
}

// relNamespace returns a fresh namespace name for this test and makes sure
// no namespace of that name is left from an earlier, crashed test.
func relNamespace(t *testing.T, suffix string) string {
	t.Helper()
	ns := "rel-" + suffix
	relDeleteNamespace(t, ns)
	return ns
}

// relDeleteNamespace deletes ns (if it exists) and waits until it is gone.
func relDeleteNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete namespace %s: %v", ns, err)
	}
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace %s still there after 2m", ns)
	}
}

// relLeftovers lists every object in namespace ns, of every namespaced
// resource that can be listed, except what every namespace has
// (kube-root-ca.crt, the default ServiceAccount) and the names in keep
// ("kind/name"). Events are ignored.
func relLeftovers(t *testing.T, ns string, keep ...string) []string {
	t.Helper()
	_, dyn, disc := relAdmin(t)
	lists, err := discovery.ServerPreferredNamespacedResources(disc)
	if err != nil && len(lists) == 0 {
		t.Fatalf("discovery: %v", err)
	}
	skip := map[string]bool{"ConfigMap/kube-root-ca.crt": true, "ServiceAccount/default": true}
	for _, k := range keep {
		skip[k] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var left []string
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !relHas(res.Verbs, "list") || res.Kind == "Event" {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(res.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					continue
				}
				t.Fatalf("list %s in %s: %v", res.Name, ns, err)
			}
			for _, it := range items.Items {
				name := res.Kind + "/" + it.GetName()
				if !skip[name] {
					left = append(left, name)
				}
			}
		}
	}
	sort.Strings(left)
	return left
}

func relHas(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// relAssertNamespaceGone checks that a run that created its namespace left
// nothing: the namespace is gone (or terminating, then gone within a
// minute), and no kbrun-managed namespace of that name exists.
func relAssertNamespaceGone(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err == nil {
			last = fmt.Errorf("namespace %s is %s", ns, n.Status.Phase)
		} else {
			last = err
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("after the run: %v; left in it: %v", last, relLeftovers(t, ns))
		return
	}
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kbrun"})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	for _, n := range nss.Items {
		if n.Name == ns {
			t.Errorf("kbrun-managed namespace %s still listed", ns)
		}
	}
}

// relPodProcs returns the host's processes in the pod with uid (their
// command lines), when the node is this machine (the project's cluster);
// ok is false when /proc shows no kubepods cgroups at all.
func relPodProcs(uid string) (procs []string, ok bool) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	under := strings.ReplaceAll(uid, "-", "_")
	for _, d := range dirs {
		cg, err := os.ReadFile(filepath.Join(d, "cgroup"))
		if err != nil {
			continue
		}
		s := string(cg)
		if strings.Contains(s, "kubepods") {
			ok = true
		}
		if uid == "" || !(strings.Contains(s, "pod"+uid) || strings.Contains(s, "pod"+under)) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		procs = append(procs, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return procs, ok
}

// relPodUID returns the UID of pod ns/name ("" if it cannot be read).
func relPodUID(ns, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return string(p.UID)
}

// relWaitProc polls until a process of pod uid has a command line
// containing one of subs, for at most d; it returns that command line.
func relWaitProc(uid string, d time.Duration, subs ...string) string {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		procs, _ := relPodProcs(uid)
		for _, p := range procs {
			for _, s := range subs {
				if strings.Contains(p, s) {
					return p
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ""
}

// relPipelineArgs are the arguments of a default-pipeline run in ns.
func relPipelineArgs(ns string, extra ...string) []string {
	return append([]string{"run", pipeline, "-o", "json", "--set", "namespace=" + ns}, extra...)
}

// relLogf writes figures to the test log and, when KBRUN_RELIABILITY_LOG
// names a file, appends them there (for the report).
func relLogf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	if f := os.Getenv("KBRUN_RELIABILITY_LOG"); f != "" {
		relMu.Lock()
		defer relMu.Unlock()
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(fh, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339), t.Name(), msg)
			fh.Close()
		}
	}
}
