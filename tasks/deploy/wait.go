package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/apply"
	"github.com/kbrun/kbrun/tasks/internal/batchjob"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

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
	ap       apply.Applied
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

func (w *waiter) what() string {
	return k8s.Describe(w.ap.Ref.Kind, w.ap.Ref.Namespace, w.ap.Ref.Name)
}

// noteAPI tells w.api how the API server answered a list or watch.
func (w *waiter) noteAPI(ctx context.Context, err error) { w.api.record(ctx, err, w.now()) }

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
	objW = startWatch(k8s.ListWatchNoting(ri, nameSel, "", w.noteAPI), &unstructured.Unstructured{})

	sel, err := w.selector(w.ap.Object)
	if err != nil {
		return result{}, err
	}
	pods := w.c.Typed.CoreV1().Pods(ns)
	podW = startWatch(k8s.ListWatchNoting(pods, "", sel.String(), w.noteAPI), &corev1.Pod{})
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
	note := waitnote.New(w.clock)
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
			var jf *batchjob.Failed
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
				(!pod.IsReady(p) || (ok && restartCount(p) > prev)) {
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
