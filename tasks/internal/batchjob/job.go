// Package batchjob reads how a Kubernetes Job ended: its decided outcome
// from its conditions, and why its pods failed from their statuses and
// logs. The deploy and wait tasks judge Jobs through it, so that both
// call the same Job failed for the same reason.
package batchjob

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kbrun/kbrun/tasks/internal/pod"
)

// Job conditions since Kubernetes 1.31: the controller sets FailureTarget
// (SuccessTarget) as soon as the outcome is decided, and Failed (Complete)
// once the Job's pods have terminated. kubectl wait --for=condition=Complete
// never sees a failure; kbrun judges by all four.
const (
	FailureTarget batchv1.JobConditionType = "FailureTarget"
	SuccessTarget batchv1.JobConditionType = "SuccessTarget"
)

// Failed stops a wait on a Job whose failure is decided: Cond is
// Outcome's failed.
type Failed struct {
	Job  *unstructured.Unstructured
	Cond string
}

func (e *Failed) Error() string { return "job failed (" + e.Cond + ")" }

// Outcome reads a Job's decided outcome: done when it succeeded
// (Complete or SuccessTarget), failed with the condition that says so
// ("Failed: BackoffLimitExceeded: Job has reached the specified backoff
// limit") when it failed (Failed or FailureTarget); neither while it runs.
func Outcome(u *unstructured.Unstructured) (done bool, failed string) {
	var job batchv1.Job
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &job); err != nil {
		return false, ""
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed, FailureTarget:
			s := string(c.Type)
			if c.Reason != "" {
				s += ": " + c.Reason
			}
			if c.Message != "" {
				s += ": " + c.Message
			}
			return false, s
		case batchv1.JobComplete, SuccessTarget:
			done = true
		}
	}
	return done, ""
}

// Failure says why a Job's pods failed: for the newest pod with a
// failed container, the container's reason, exit code and message, and the
// last lines of its log. It is best effort: "" when nothing can be read.
func Failure(ctx context.Context, cs kubernetes.Interface, u *unstructured.Unstructured, lines int64) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	sel := "batch.kubernetes.io/controller-uid=" + string(u.GetUID())
	if m, ok, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels"); ok && len(m) > 0 {
		sel = metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: m})
	}
	list, err := cs.CoreV1().Pods(u.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Sprintf("(the Job's pods could not be listed: %v)", err)
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	pod.SortNewestFirst(pods)
	for _, p := range pods {
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			term, previous := st.State.Terminated, false
			if term == nil || term.ExitCode == 0 {
				term, previous = st.LastTerminationState.Terminated, true
			}
			if term == nil || term.ExitCode == 0 {
				continue
			}
			var b strings.Builder
			fmt.Fprintf(&b, "pod %s/%s container %s terminated: %s, exit code %d", p.Namespace, p.Name, st.Name, term.Reason, term.ExitCode)
			if m := strings.TrimSpace(term.Message); m != "" {
				fmt.Fprintf(&b, ": %s", m)
			}
			if tail := podLogTail(ctx, cs, p, st.Name, previous, lines); tail != "" {
				fmt.Fprintf(&b, "\nlast lines of its log:\n%s", tail)
			}
			return b.String()
		}
		if p.Status.Phase == corev1.PodFailed {
			return fmt.Sprintf("pod %s/%s failed: %s %s", p.Namespace, p.Name, p.Status.Reason, p.Status.Message)
		}
	}
	if len(pods) == 0 {
		return "(no pod of the Job is left to read)"
	}
	return ""
}

func podLogTail(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, container string, previous bool, lines int64) string {
	rc, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: &lines}).Stream(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil && len(b) == 0 {
		return ""
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		out = append(out, "  | "+l)
	}
	return strings.Join(out, "\n")
}
