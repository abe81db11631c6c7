package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// workloadKind names the workloads deploy waits for, "" for others.
func workloadKind(gk schema.GroupKind) string {
	switch {
	case gk.Group == "apps" && (gk.Kind == "Deployment" || gk.Kind == "StatefulSet" || gk.Kind == "DaemonSet"):
		return gk.Kind
	case gk.Group == "batch" && gk.Kind == "Job":
		return gk.Kind
	}
	return ""
}

// stuckReasons are the container waiting reasons that fail a rollout at once.
var stuckReasons = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"InvalidImageName":           true,
}

// permanentSandbox are parts of FailedCreatePodSandBox messages that no
// retry heals: the node cannot give the pod what its spec asks for.
var permanentSandbox = []string{
	"does not support user namespaces", // hostUsers: false on a runtime (handler) without them
	"can't set spec.HostUsers",         // hostUsers set on a kubelet with UserNamespacesSupport off
}

type result struct {
	pods   []string
	images []string
}

type waiter struct {
	c        *kube.Clients
	env      *task.Env
	ap       k8s.Applied
	grace    time.Duration
	stable   time.Duration
	failFast bool

	latest *unstructured.Unstructured
	status string
	pods   map[string]*corev1.Pod
	rsRev  map[string]string // ReplicaSet name -> revision annotation
	// sandbox holds, by pod UID, the message of a FailedCreatePodSandBox
	// event that no retry heals.
	sandbox map[types.UID]string
	// podStore is what the pod watch has seen.
	podStore cache.Store
	now      func() time.Time
	clock    clock.Clock // paces the notes of a long wait; nil: the real one
	api      apiTrouble
}

// apiTrouble remembers since when the API server refuses the waiter's list
// and watch requests (informers retry those silently), so that a rollout
// that times out while the server is unreachable says so.
type apiTrouble struct {
	mu    sync.Mutex
	since time.Time
	err   error
}

func (t *apiTrouble) record(ctx context.Context, err error, now time.Time) {
	if ctx.Err() != nil {
		return // the informer stopping, not the server failing
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.since, t.err = time.Time{}, nil
		return
	}
	if t.since.IsZero() {
		t.since = now
	}
	t.err = err
}

// describe says how long the API server has been failing, or "".
func (t *apiTrouble) describe(now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		return ""
	}
	return fmt.Sprintf("; the API server has not answered list/watch requests for %s (latest error: %v)", now.Sub(t.since).Round(100*time.Millisecond), t.err)
}

// apiNote says since when the API server has not answered, or "": what
// the waiter's informers got, else what the run's transport, which makes
// their requests wait for the server, has seen.
func (w *waiter) apiNote() string {
	if s := w.api.describe(w.now()); s != "" {
		return s
	}
	if o, down := w.c.Patience.Down(); down {
		return fmt.Sprintf("; the API server has not answered since %s, %s ago (%v)", o.Since.Format("15:04:05"), w.now().Sub(o.Since).Round(100*time.Millisecond), o.Err)
	}
	return ""
}

func (w *waiter) what() string {
	return k8s.Describe(w.ap.Ref.Kind, w.ap.Ref.Namespace, w.ap.Ref.Name)
}

// wait watches the workload and its pods until the rollout is done, a pod
// is stuck, or ctx ends.
func (w *waiter) wait(ctx context.Context) (_ result, err error) {
	if w.now == nil {
		w.now = time.Now
	}
	w.pods = map[string]*corev1.Pod{}
	w.rsRev = map[string]string{}
	w.sandbox = map[types.UID]string{}
	w.latest = w.ap.Object
	ns, name := w.ap.Ref.Namespace, w.ap.Ref.Name
	ri := w.c.Dynamic.Resource(w.ap.Mapping.Resource).Namespace(ns)
	nameSel := fields.OneTermEqualSelector("metadata.name", name).String()
	// A workload that rolls out keeps its watches for the run's later tasks
	// (its pods for copy, exec and logs; itself for cleanup).
	var objW, podW *informerWatch
	defer func() { w.handOver(objW, podW, err == nil) }()
	objW = startWatch(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = nameSel
			l, err := ri.List(ctx, o)
			w.api.record(ctx, err, w.now())
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = nameSel
			wi, err := ri.Watch(ctx, o)
			w.api.record(ctx, err, w.now())
			return wi, err
		},
	}, ri), &unstructured.Unstructured{})

	sel, err := w.selector(w.ap.Object)
	if err != nil {
		return result{}, err
	}
	pods := w.c.Typed.CoreV1().Pods(ns)
	podW = startWatch(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel.String()
			l, err := pods.List(ctx, o)
			w.api.record(ctx, err, w.now())
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel.String()
			wi, err := pods.Watch(ctx, o)
			w.api.record(ctx, err, w.now())
			return wi, err
		},
	}, pods), &corev1.Pod{})
	w.podStore = podW.store()

	// The pod sandbox's errors reach only events, not the pod's status.
	sandboxW := w.watchSandboxEvents(ctx)
	defer func() {
		if sandboxW != nil {
			sandboxW.Stop()
		}
	}()
	sandboxC := func() <-chan watch.Event {
		if sandboxW == nil {
			return nil
		}
		return sandboxW.ResultChan()
	}
	reopens := 0
	note := k8s.NewNote(w.clock)
	defer note.Stop()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// With stableFor, a complete rollout must stay complete (and its pods
	// ready, without restarts) that long.
	var stableC <-chan time.Time
	var stableTimer *time.Timer
	restarts := map[string]int32{}
	unstable := func() {
		if stableTimer != nil {
			stableTimer.Stop()
			stableTimer, stableC = nil, nil
			k8s.Logf(w.env, "%s: a pod of the new revision stopped being ready; waiting again", w.what())
		}
	}
	for {
		select {
		case <-stableC:
			return w.finish(ctx)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return result{}, &cancelled{ctx.Err()}
			}
			return result{}, w.timeoutError(ctx)
		case ev, ok := <-objW.ResultChan():
			if !ok {
				return result{}, task.Retryablef("watch on %s ended", w.what())
			}
			switch ev.Type {
			case watch.Deleted:
				return result{}, fmt.Errorf("%s was deleted while waiting for its rollout", w.what())
			case watch.Error:
				continue
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			w.latest = u
			msg, done, err := w.rolloutStatus(u)
			var jf *jobFailed
			if errors.As(err, &jf) {
				return result{}, w.jobError(ctx, u, jf)
			}
			if err != nil {
				return result{}, w.withPods(ctx, fmt.Errorf("%s: %v", w.what(), err))
			}
			if msg != w.status {
				w.status = msg
				k8s.Logf(w.env, "%s", msg)
			}
			if done && w.stable == 0 {
				return w.finish(ctx)
			}
			if done && stableTimer == nil {
				stableTimer = time.NewTimer(w.stable)
				stableC = stableTimer.C
				for _, p := range w.pods {
					restarts[p.Name] = restartCount(p)
				}
			}
			if !done {
				unstable()
			}
		case ev, ok := <-podW.ResultChan():
			if !ok {
				return result{}, task.Retryablef("watch on the pods of %s ended", w.what())
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(w.pods, p.Name)
				continue
			}
			if prev, ok := restarts[p.Name]; stableTimer != nil && p.DeletionTimestamp == nil && w.currentRevision(ctx, p) &&
				(!k8s.IsPodReady(p) || (ok && restartCount(p) > prev)) {
				unstable()
			}
			w.pods[p.Name] = p
			if err := w.checkPods(ctx, timer); err != nil {
				return result{}, err
			}
		case ev, ok := <-sandboxC():
			if !ok {
				// Cut: watch again (existing events are replayed), a few
				// times; without it the rollout just cannot fail fast.
				sandboxW.Stop()
				sandboxW = nil
				if reopens++; reopens <= 5 {
					sandboxW = w.watchSandboxEvents(ctx)
				}
				continue
			}
			e, ok := ev.Object.(*corev1.Event)
			if !ok || e.Reason != "FailedCreatePodSandBox" || e.InvolvedObject.Kind != "Pod" || !permanent(e.Message) {
				continue
			}
			w.sandbox[e.InvolvedObject.UID] = e.Message
			if err := w.checkPods(ctx, timer); err != nil {
				return result{}, err
			}
		case <-timer.C:
			if err := w.checkPods(ctx, timer); err != nil {
				return result{}, err
			}
		case <-note.C():
			k8s.Logf(w.env, "%s", note.Say("the rollout of "+w.what(), w.waitingOn(note.Now())))
		}
	}
}

// notedPods bounds the pods a note names: the line stays one line.
const notedPods = 3

// waitingOn says what the rollout still waits for: its status, and the
// pods that are not ready yet or still terminating (newest first), as the
// watches last saw them.
func (w *waiter) waitingOn(now time.Time) string {
	status := w.status
	if status == "" {
		status = "no status observed yet"
	}
	// kubectl's "Waiting for deployment "web" rollout to finish: 0 of 1
	// ...": the note already says what it waits for.
	if rest, ok := strings.CutPrefix(status, "Waiting for "); ok {
		if _, detail, ok := strings.Cut(rest, ": "); ok {
			status = detail
		}
	}
	parts := []string{strings.TrimSuffix(status, "...")}
	var more int
	for _, p := range w.sortedPods() {
		var s string
		switch {
		case p.DeletionTimestamp != nil:
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
			if err != nil {
				continue
			}
			pod := &unstructured.Unstructured{Object: u}
			pod.SetAPIVersion("v1")
			pod.SetKind("Pod")
			s = fmt.Sprintf("pod %s is terminating: %s", p.Name, k8s.Holding(pod, now))
		case !k8s.IsPodReady(p):
			s = fmt.Sprintf("pod %s: %s", p.Name, podState(p))
		default:
			continue
		}
		if len(parts) > notedPods {
			more++
			continue
		}
		parts = append(parts, s)
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d more pods", more))
	}
	return strings.Join(parts, "; ")
}

// watchSandboxEvents watches the namespace's FailedCreatePodSandBox events,
// or returns nil when it cannot (e.g. no right to watch events).
func (w *waiter) watchSandboxEvents(ctx context.Context) watch.Interface {
	sel := fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
		fields.OneTermEqualSelector("reason", "FailedCreatePodSandBox"),
	).String()
	wi, err := w.c.Typed.CoreV1().Events(w.ap.Ref.Namespace).Watch(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil
	}
	return wi
}

func permanent(msg string) bool {
	for _, p := range permanentSandbox {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// selector is the workload's pod selector.
func (w *waiter) selector(u *unstructured.Unstructured) (labels.Selector, error) {
	m, found, err := unstructured.NestedMap(u.Object, "spec", "selector")
	if err != nil || !found {
		if w.ap.Ref.Kind == "Job" {
			// The server fills it in; the apply response has it.
			return labels.Everything(), nil
		}
		return nil, fmt.Errorf("%s has no spec.selector", w.what())
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, fmt.Errorf("%s: spec.selector: %v", w.what(), err)
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("%s: spec.selector: %v", w.what(), err)
	}
	return s, nil
}

// jobFailed is a Job whose failure is decided (Failed or FailureTarget).
type jobFailed struct{ cond string }

func (e *jobFailed) Error() string { return "job failed (" + e.cond + ")" }

// rolloutStatus judges the workload as kubectl rollout status does; Jobs are
// done when Complete (or SuccessTarget) and fail at once when Failed (or
// FailureTarget).
func (w *waiter) rolloutStatus(u *unstructured.Unstructured) (string, bool, error) {
	if w.ap.Ref.Kind == "Job" {
		var job batchv1.Job
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &job); err != nil {
			return "", false, err
		}
		done, failed := k8s.JobOutcome(u)
		switch {
		case failed != "":
			return "", false, &jobFailed{cond: failed}
		case done:
			return fmt.Sprintf("job %q completed (%d succeeded)", job.Name, job.Status.Succeeded), true, nil
		}
		return fmt.Sprintf("Waiting for job %q to complete: %d active, %d succeeded, %d failed", job.Name, job.Status.Active, job.Status.Succeeded, job.Status.Failed), false, nil
	}
	v, err := polymorphichelpers.StatusViewerFor(u.GroupVersionKind().GroupKind())
	if err != nil {
		return "", false, err
	}
	msg, done, err := v.Status(u, 0)
	return strings.TrimSpace(msg), done, err
}

// jobError is the failure of a Job: the condition that decided it, and why
// its newest failed pod failed, with the end of that pod's log.
func (w *waiter) jobError(ctx context.Context, u *unstructured.Unstructured, jf *jobFailed) error {
	msg := fmt.Sprintf("%s failed (%s)", w.what(), jf.cond)
	if why := k8s.JobFailure(ctx, w.c.Typed, u, 20); why != "" {
		msg += "\n" + why
	}
	return fmt.Errorf("%s", msg)
}

// checkPods fails on a pod of the current revision that is stuck, and arms
// the timer for the earliest unschedulable grace deadline.
func (w *waiter) checkPods(ctx context.Context, timer *time.Timer) error {
	if !w.failFast {
		return nil
	}
	var next time.Time
	for _, p := range w.sortedPods() {
		if p.DeletionTimestamp != nil {
			continue
		}
		reason, container, message := stuck(p)
		if msg, ok := w.sandbox[p.UID]; ok && reason == "" && !k8s.IsPodReady(p) {
			reason, message = "FailedCreatePodSandBox", msg
		}
		if reason == "" {
			if since, ok := unschedulableSince(p); ok {
				deadline := since.Add(w.grace)
				if !w.now().Before(deadline) {
					if !w.currentRevision(ctx, p) {
						continue
					}
					return w.podError(ctx, p, "", "Unschedulable", podCondMessage(p, corev1.PodScheduled)+fmt.Sprintf(" (for more than %s)", w.grace))
				}
				if next.IsZero() || deadline.Before(next) {
					next = deadline
				}
				continue
			}
			if since, ok := notReadySince(p); ok && p.Spec.NodeName != "" {
				deadline := since.Add(w.grace)
				if w.now().Before(deadline) {
					if next.IsZero() || deadline.Before(next) {
						next = deadline
					}
					continue
				}
				if why := w.nodeDown(ctx, p.Spec.NodeName); why != "" && w.currentRevision(ctx, p) {
					return w.podError(ctx, p, "", "NodeNotReady", fmt.Sprintf("its node %s is not Ready (%s) and the pod has not been ready for more than %s", p.Spec.NodeName, why, w.grace))
				}
			}
			continue
		}
		if !w.currentRevision(ctx, p) {
			continue
		}
		return w.podError(ctx, p, container, reason, message)
	}
	if !next.IsZero() {
		timer.Reset(next.Sub(w.now()) + 10*time.Millisecond)
	}
	return nil
}

func (w *waiter) sortedPods() []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(w.pods))
	for _, p := range w.pods {
		out = append(out, p)
	}
	k8s.SortNewestFirst(out)
	return out
}

// stuck returns the first container stuck in a reason that cannot heal.
func stuck(p *corev1.Pod) (reason, container, message string) {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Waiting != nil && stuckReasons[cs.State.Waiting.Reason] {
				msg := cs.State.Waiting.Message
				if cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.LastTerminationState.Terminated != nil {
					t := cs.LastTerminationState.Terminated
					msg = fmt.Sprintf("last exit code %d (%s) after %d restart(s)", t.ExitCode, t.Reason, cs.RestartCount)
					if t.Message != "" {
						msg += ": " + strings.TrimSpace(t.Message)
					}
				}
				return cs.State.Waiting.Reason, cs.Name, msg
			}
		}
	}
	return "", "", ""
}

func unschedulableSince(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// notReadySince is when a pod that ran stopped being ready: the node
// lifecycle controller marks the pods of a node that went NotReady so.
func notReadySince(p *corev1.Pod) (time.Time, bool) {
	if p.Status.Phase != corev1.PodRunning {
		return time.Time{}, false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// nodeDown says why node is not Ready ("" when it is, or when it cannot be
// read, e.g. without the right to get nodes).
func (w *waiter) nodeDown(ctx context.Context, node string) string {
	var n *corev1.Node
	err := k8s.Idempotent(ctx, func() (err error) {
		n, err = w.c.Typed.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return ""
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return strings.TrimSpace(fmt.Sprintf("Ready=%s since %s, %s: %s", c.Status, c.LastTransitionTime.UTC().Format("15:04:05"), c.Reason, c.Message))
		}
	}
	if n.Spec.Unschedulable {
		return "cordoned (drained)"
	}
	return ""
}

func podCondMessage(p *corev1.Pod, t corev1.PodConditionType) string {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

// currentRevision reports whether a pod belongs to the revision being rolled
// out, so an old revision's broken pod does not fail a rollout that fixes it.
func (w *waiter) currentRevision(ctx context.Context, p *corev1.Pod) bool {
	u := w.latest
	switch w.ap.Ref.Kind {
	case "Deployment":
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if u.GetGeneration() > observed && observed > 0 {
			// The controller has not yet made the new revision: the pods
			// seen now may all be the old one's.
			return false
		}
		want := u.GetAnnotations()["deployment.kubernetes.io/revision"]
		owner := metav1.GetControllerOf(p)
		if want == "" || owner == nil || owner.Kind != "ReplicaSet" {
			return true
		}
		rev, ok := w.rsRev[owner.Name]
		if !ok {
			rs, err := w.c.Typed.AppsV1().ReplicaSets(p.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
			if err != nil {
				return true
			}
			rev = rs.Annotations["deployment.kubernetes.io/revision"]
			w.rsRev[owner.Name] = rev
		}
		return rev == "" || rev == want
	case "StatefulSet":
		want, _, _ := unstructured.NestedString(u.Object, "status", "updateRevision")
		have := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		return want == "" || have == "" || want == have
	}
	return true
}

// podError builds the fail-fast message: pod, container, reason, message
// and the pod's latest events.
func (w *waiter) podError(ctx context.Context, p *corev1.Pod, container, reason, message string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s cannot roll out: pod %s/%s", w.what(), p.Namespace, p.Name)
	if container != "" {
		fmt.Fprintf(&b, " container %s", container)
	}
	fmt.Fprintf(&b, " is stuck in %s", reason)
	if message != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSpace(message))
	}
	if ev := w.events(ctx, p); ev != "" {
		b.WriteString("\nlatest events of the pod:\n" + ev)
	}
	return fmt.Errorf("%s", b.String())
}

// events lists the pod's latest events, oldest first, one per line.
func (w *waiter) events(ctx context.Context, p *corev1.Pod) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	list, err := w.c.Typed.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", p.Name),
			fields.OneTermEqualSelector("involvedObject.namespace", p.Namespace),
		).String(),
	})
	if err != nil || len(list.Items) == 0 {
		return ""
	}
	return formatEvents(list.Items, p.UID, 5, w.now())
}

// formatEvents renders the last n events (of the given object UID when set).
func formatEvents(evs []corev1.Event, uid types.UID, n int, now time.Time) string {
	var keep []corev1.Event
	for _, e := range evs {
		if uid == "" || e.InvolvedObject.UID == "" || e.InvolvedObject.UID == uid {
			keep = append(keep, e)
		}
	}
	when := func(e corev1.Event) time.Time {
		switch {
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	sort.SliceStable(keep, func(i, j int) bool { return when(keep[i]).Before(when(keep[j])) })
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	var lines []string
	for _, e := range keep {
		age := now.Sub(when(e)).Round(time.Second)
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d)", e.Count)
		}
		lines = append(lines, fmt.Sprintf("  %s %s %s ago%s: %s", e.Type, e.Reason, age, count, strings.TrimSpace(e.Message)))
	}
	return strings.Join(lines, "\n")
}

// timeoutError says what the rollout was waiting for when time ran out.
func (w *waiter) timeoutError(ctx context.Context) error {
	status := w.status
	if status == "" {
		status = "no status observed yet"
	}
	err := fmt.Errorf("%s was not rolled out before the task timeout: %s%s", w.what(), status, w.apiNote())
	return w.withPods(ctx, fmt.Errorf("%w (%w)", err, ctx.Err()))
}

// withPods appends a summary of the workload's pods and the events of the
// newest unready one.
func (w *waiter) withPods(ctx context.Context, err error) error {
	pods := w.sortedPods()
	if len(pods) == 0 {
		if w.apiNote() != "" {
			return fmt.Errorf("%w\nno pods seen (the API server did not answer)", err)
		}
		return fmt.Errorf("%w\nno pods were created", err)
	}
	var b strings.Builder
	b.WriteString("\npods:")
	var unready *corev1.Pod
	for _, p := range pods {
		fmt.Fprintf(&b, "\n  %s: %s", p.Name, podState(p))
		if unready == nil && !k8s.IsPodReady(p) {
			unready = p
		}
	}
	if unready != nil {
		if ev := w.events(ctx, unready); ev != "" {
			fmt.Fprintf(&b, "\nlatest events of pod %s:\n%s", unready.Name, ev)
		}
	}
	return fmt.Errorf("%w%s", err, b.String())
}

// podState is a one-line state of a pod, as a reader would want it.
func podState(p *corev1.Pod) string {
	parts := []string{string(p.Status.Phase)}
	if k8s.IsPodReady(p) {
		parts = append(parts, "Ready")
	} else {
		parts = append(parts, "not Ready")
	}
	if _, ok := unschedulableSince(p); ok {
		parts = append(parts, "Unschedulable: "+podCondMessage(p, corev1.PodScheduled))
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			switch {
			case cs.State.Waiting != nil:
				s := cs.Name + " waiting: " + cs.State.Waiting.Reason
				if cs.State.Waiting.Message != "" {
					s += " (" + cs.State.Waiting.Message + ")"
				}
				parts = append(parts, s)
			case cs.State.Terminated != nil:
				parts = append(parts, fmt.Sprintf("%s terminated: %s, exit code %d", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
			case cs.State.Running != nil && !cs.Ready:
				parts = append(parts, cs.Name+" running, not ready")
			}
			if cs.RestartCount > 0 {
				parts = append(parts, fmt.Sprintf("%s restarted %d time(s)", cs.Name, cs.RestartCount))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// finish collects the ready pods of the new revision and the images.
func (w *waiter) finish(ctx context.Context) (result, error) {
	u := w.latest
	var r result
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if m, ok := c.(map[string]any); ok {
			if im, ok := m["image"].(string); ok {
				r.images = append(r.images, im)
			}
		}
	}
	sel, err := w.selector(u)
	if err != nil {
		return r, err
	}
	var newRS types.UID
	watched := w.watchedPods(sel)
	if w.ap.Ref.Kind == "Deployment" {
		newRS = soleReplicaSet(u.GetName(), watched)
	}
	if w.ap.Ref.Kind == "Deployment" && newRS == "" {
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err == nil {
			rev := d.Annotations["deployment.kubernetes.io/revision"]
			var rss *appsv1.ReplicaSetList
			err := k8s.Idempotent(ctx, func() (err error) {
				rss, err = w.c.Typed.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
				return err
			})
			if err == nil {
				for _, rs := range rss.Items {
					if metav1.IsControlledBy(&rs, &d) && rs.Annotations["deployment.kubernetes.io/revision"] == rev {
						newRS = rs.UID
					}
				}
			}
		}
	}
	updateRev, _, _ := unstructured.NestedString(u.Object, "status", "updateRevision")
	// The pods the watch has seen; the API server is asked only when they
	// hold none of the new revision yet (its last events still on the way).
	keep := w.rolledOut(u, newRS, updateRev, watched)
	if len(keep) == 0 {
		var list *corev1.PodList
		err := k8s.Idempotent(ctx, func() (err error) {
			list, err = w.c.Typed.CoreV1().Pods(u.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			return err
		})
		if err != nil {
			return r, k8s.Classify(err, "list", "pods of "+w.what())
		}
		keep = w.rolledOut(u, newRS, updateRev, list.Items)
	}
	k8s.SortNewestFirst(keep)
	for _, p := range keep {
		r.pods = append(r.pods, p.Name)
	}
	return r, nil
}

// rolledOut picks the ready pods of the new revision (a Job's pods, ready
// or not).
func (w *waiter) rolledOut(u *unstructured.Unstructured, newRS types.UID, updateRev string, pods []corev1.Pod) []*corev1.Pod {
	var keep []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		owner := metav1.GetControllerOf(p)
		switch w.ap.Ref.Kind {
		case "Deployment":
			if newRS != "" && (owner == nil || owner.UID != newRS) {
				continue
			}
		case "StatefulSet", "DaemonSet":
			if owner == nil || owner.UID != u.GetUID() {
				continue
			}
			if updateRev != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] != updateRev && w.ap.Ref.Kind == "StatefulSet" {
				continue
			}
		case "Job":
			if owner == nil || owner.UID != u.GetUID() {
				continue
			}
			keep = append(keep, p)
			continue
		}
		if k8s.IsPodReady(p) {
			keep = append(keep, p)
		}
	}
	return keep
}

func restartCount(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}
