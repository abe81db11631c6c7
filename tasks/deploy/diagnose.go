package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kbrun/kbrun/tasks/internal/pod"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

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
			pod := waitnote.AsUnstructured(p, "v1", "Pod")
			if pod == nil {
				continue
			}
			s = fmt.Sprintf("pod %s is terminating: %s", p.Name, waitnote.Holding(pod, now))
		case !pod.IsReady(p):
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
		if unready == nil && !pod.IsReady(p) {
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
	if pod.IsReady(p) {
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
