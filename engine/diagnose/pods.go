package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// failing is a container whose logs say why a pod does not work.
type failing struct {
	pod       *corev1.Pod
	container string
	// previous: it restarted, so the log of the run before is kept too.
	previous bool
	// state is its state in one line, for the summary.
	state string
}

// podStates is pods.txt's part for pods: each pod's phase, conditions not
// met, and every container's state, with reasons and exit codes; and the
// containers that fail.
func podStates(pods []corev1.Pod) (string, []failing) {
	var b strings.Builder
	var bad []failing
	for i := range pods {
		p := &pods[i]
		fmt.Fprintf(&b, "pod %s/%s: %s", p.Namespace, p.Name, p.Status.Phase)
		if p.Status.Reason != "" {
			fmt.Fprintf(&b, " (%s: %s)", p.Status.Reason, p.Status.Message)
		}
		if p.Spec.NodeName != "" {
			fmt.Fprintf(&b, ", node %s", p.Spec.NodeName)
		}
		b.WriteString("\n")
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, "  condition %s=%s", c.Type, c.Status)
				if c.Reason != "" || c.Message != "" {
					fmt.Fprintf(&b, ": %s %s", c.Reason, c.Message)
				}
				b.WriteString("\n")
			}
		}
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				s := containerState(cs)
				fmt.Fprintf(&b, "  container %s: %s\n", cs.Name, s)
				if isFailing(p, cs) {
					bad = append(bad, failing{pod: p, container: cs.Name, previous: cs.RestartCount > 0, state: s})
				}
			}
		}
	}
	return b.String(), bad
}

// containerState says a container's state in one line: what it does now,
// how often it restarted, and how it last ended.
func containerState(cs corev1.ContainerStatus) string {
	var parts []string
	switch st := cs.State; {
	case st.Waiting != nil:
		parts = append(parts, "waiting: "+reason(st.Waiting.Reason, st.Waiting.Message))
	case st.Terminated != nil:
		parts = append(parts, "terminated: "+terminated(st.Terminated))
	case st.Running != nil:
		parts = append(parts, "running since "+st.Running.StartedAt.UTC().Format("15:04:05"))
	default:
		parts = append(parts, "no state yet")
	}
	if cs.Ready {
		parts = append(parts, "ready")
	} else {
		parts = append(parts, "not ready")
	}
	if cs.RestartCount > 0 {
		parts = append(parts, fmt.Sprintf("restarted %d time(s)", cs.RestartCount))
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		parts = append(parts, "last ended: "+terminated(t))
	}
	return strings.Join(parts, ", ")
}

func terminated(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("%s, exit code %d", cmpOr(t.Reason, "Terminated"), t.ExitCode)
	if t.Signal != 0 {
		s += fmt.Sprintf(", signal %d", t.Signal)
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		s += " (" + m + ")"
	}
	return s
}

func reason(r, m string) string {
	if m = strings.TrimSpace(m); m != "" {
		return r + " (" + m + ")"
	}
	return r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isFailing: a container that waits for a reason other than its start,
// ended with an error, restarted, or runs without being ready (an
// assertion on it may have waited for that).
func isFailing(p *corev1.Pod, cs corev1.ContainerStatus) bool {
	if p.Status.Phase == corev1.PodSucceeded {
		return false
	}
	switch st := cs.State; {
	case st.Waiting != nil:
		return (st.Waiting.Reason != "ContainerCreating" && st.Waiting.Reason != "PodInitializing") || cs.RestartCount > 0
	case st.Terminated != nil:
		return st.Terminated.ExitCode != 0
	}
	return cs.RestartCount > 0 || !cs.Ready
}

// logs writes the last lines of a failing container's log, and of its
// previous run's when it restarted, into logs/.
func (c *collector) logs(ctx context.Context, typed kubernetes.Interface, bad []failing) {
	for i, f := range bad {
		if i >= c.limits.Logs {
			c.f.note("logs of %d more failing containers not kept (at most %d)", len(bad)-i, c.limits.Logs)
			return
		}
		runs := []bool{false}
		if f.previous {
			runs = append(runs, true)
		}
		for _, previous := range runs {
			name := fmt.Sprintf("logs/%s_%s_%s", fileName(f.pod.Namespace), fileName(f.pod.Name), fileName(f.container))
			if previous {
				name += ".previous"
			}
			name += ".log"
			opts := &corev1.PodLogOptions{Container: f.container, Previous: previous, TailLines: &c.limits.LogLines, LimitBytes: &c.limits.LogBytes}
			out, err := typed.CoreV1().Pods(f.pod.Namespace).GetLogs(f.pod.Name, opts).DoRaw(ctx)
			if err != nil {
				c.f.note("log of %s/%s container %s%s: %v", f.pod.Namespace, f.pod.Name, f.container, map[bool]string{true: " (previous)"}[previous], err)
				continue
			}
			c.f.write(name, string(out))
			c.logsKept++
		}
	}
}
