package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/tasks/internal/batchjob"
	"github.com/kbrun/kbrun/tasks/internal/pod"
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

// rolloutStatus judges the workload as kubectl rollout status does; Jobs are
// done when Complete (or SuccessTarget) and fail at once when Failed (or
// FailureTarget).
func (w *waiter) rolloutStatus(u *unstructured.Unstructured) (string, bool, error) {
	if w.ap.Ref.Kind == "Job" {
		var job batchv1.Job
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &job); err != nil {
			return "", false, err
		}
		done, failed := batchjob.Outcome(u)
		switch {
		case failed != "":
			return "", false, &batchjob.Failed{Job: u, Cond: failed}
		case done:
			return fmt.Sprintf("job %q completed (%d succeeded)", job.Name, job.Status.Succeeded), true, nil
		}
		return fmt.Sprintf("Waiting for job %q to complete: %d active, %d succeeded, %d failed", job.Name, job.Status.Active, job.Status.Succeeded, job.Status.Failed), false, nil
	}
	msg, done, err := workloadStatus(u)
	return strings.TrimSpace(msg), done, err
}

// jobError is the failure of a Job: the condition that decided it, and why
// its newest failed pod failed, with the end of that pod's log.
func (w *waiter) jobError(ctx context.Context, u *unstructured.Unstructured, jf *batchjob.Failed) error {
	msg := fmt.Sprintf("%s failed (%s)", w.what(), jf.Cond)
	if why := batchjob.Failure(ctx, w.c.Typed, u, 20); why != "" {
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
		if msg, ok := w.sandbox[p.UID]; ok && reason == "" && !pod.IsReady(p) {
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
	pod.SortNewestFirst(out)
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
	err := apicall.Idempotent(ctx, func() (err error) {
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
			err := apicall.Idempotent(ctx, func() (err error) {
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
		err := apicall.Idempotent(ctx, func() (err error) {
			list, err = w.c.Typed.CoreV1().Pods(u.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			return err
		})
		if err != nil {
			return r, apicall.Classify(err, "list", "pods of "+w.what())
		}
		keep = w.rolledOut(u, newRS, updateRev, list.Items)
	}
	pod.SortNewestFirst(keep)
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
		if pod.IsReady(p) {
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
