// Package pod is how a task reaches into one pod: which pod a task names
// (by name or selector, in the state the task needs), commands in its
// containers over the exec subresource (waiting out a kubelet that
// restarted), and their output kept within bounds. exec, copy, logs and
// http share it; none of it reads manifests or applies objects, so it
// stands apart from those.
package pod

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
)

// DefaultContainerAnnotation names the container kubectl picks when none is
// given.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Target is how a task names its pod: by name, or by a label selector that
// resolves when the task runs. Exactly one of Pod and Selector.
type Target struct {
	Pod       string `json:"pod,omitempty"`
	Selector  string `json:"selector,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Container string `json:"container,omitempty"`
}

// Validate checks the target's parameters (after rendering): what names
// the pod, the container and the namespace, each by the API server's rule
// (a value known only at run time is checked when the task is prepared
// again, right before it runs).
func (t Target) Validate() error {
	if (t.Pod == "") == (t.Selector == "") {
		return fmt.Errorf("give exactly one of pod and selector")
	}
	var ps task.Problems
	if strings.Contains(t.Pod, "/") && !task.IsUnknown(t.Pod) {
		ps.Add([]string{"pod"}, fmt.Errorf("%q: give the pod's name only (the namespace goes in namespace)", t.Pod))
	} else {
		ps.Check([]string{"pod"}, t.Pod, valid.PodName)
	}
	ps.Check([]string{"selector"}, t.Selector, valid.Selector)
	ps.Check([]string{"namespace"}, t.Namespace, valid.Namespace)
	ps.Check([]string{"container"}, t.Container, valid.ContainerName)
	return ps.Err()
}

// String describes the target for plans: "pod ones/builder-7d9f",
// "the newest ready pod with app=x in ones".
func (t Target) String(ns string) string {
	var s string
	if t.Pod != "" {
		s = ns + "/" + t.Pod
	} else {
		s = "the pod labelled " + t.Selector + " in " + ns
	}
	if t.Container != "" {
		s += " (container " + t.Container + ")"
	}
	return s
}

// PodRequirement says what state a resolved pod must be in.
type PodRequirement int

const (
	// RunningReady: the pod is Running and Ready (exec, copy).
	RunningReady PodRequirement = iota
	// Started: the pod has at least started containers (logs): Running,
	// Succeeded or Failed.
	Started
	// running: phase Running, Ready or not (a pod named explicitly).
	running
)

// ResolveOptions tune Resolve.
type ResolveOptions struct {
	Require PodRequirement
	// ExactlyOne makes a selector that matches several eligible pods an error
	// instead of picking the newest.
	ExactlyOne bool
}

// Resolve finds the target's pod. A name must exist; a selector picks the
// newest eligible pod. A pod that exists but is not (yet) eligible is a
// retryable error, as is a selector that matches no eligible pod yet.
func Resolve(ctx context.Context, cs kubernetes.Interface, ns string, t Target, opts ResolveOptions) (*corev1.Pod, error) {
	if t.Pod != "" {
		var pod *corev1.Pod
		err := apicall.Idempotent(ctx, func() (err error) {
			pod, err = cs.CoreV1().Pods(ns).Get(ctx, t.Pod, metav1.GetOptions{})
			return err
		})
		if err != nil {
			return nil, apicall.Classify(err, "get", "pod "+ns+"/"+t.Pod)
		}
		// A pod named explicitly needs to be running, not Ready: kubectl
		// exec works in a pod whose readiness probe fails, and so does kbrun.
		req := opts.Require
		if req == RunningReady {
			req = running
		}
		if why := ineligible(pod, req); why != "" {
			return nil, task.Retryablef("pod %s/%s is %s", ns, pod.Name, why)
		}
		return pod, nil
	}
	var list *corev1.PodList
	err := apicall.Idempotent(ctx, func() (err error) {
		list, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: t.Selector})
		return err
	})
	if err != nil {
		return nil, apicall.Classify(err, "list", "pods "+t.Selector+" in "+ns)
	}
	return Pick(list.Items, ns, t.Selector, opts)
}

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// ResolveWatched is Resolve for the run's tasks: a pod named by an
// earlier task (the builder a deploy rolled out) is read from the watch
// that task kept (kube.Watches), as current as a GET, without one; a pod
// no kept watch has, or has in a state the task cannot use, is asked for.
func ResolveWatched(ctx context.Context, c *kube.Clients, ns string, t Target, opts ResolveOptions) (*corev1.Pod, error) {
	if t.Pod != "" {
		if o, seen, _ := c.Watches.Get(podsGVR, ns, t.Pod); seen {
			req := opts.Require
			if req == RunningReady {
				req = running
			}
			if p, ok := o.(*corev1.Pod); ok && ineligible(p, req) == "" {
				return p.DeepCopy(), nil
			}
		}
	}
	return Resolve(ctx, c.Typed, ns, t, opts)
}

// ResolveAll lists every eligible pod a selector matches, newest first. A
// selector that matches none yet is a retryable error.
func ResolveAll(ctx context.Context, cs kubernetes.Interface, ns, selector string, req PodRequirement) ([]*corev1.Pod, error) {
	var list *corev1.PodList
	err := apicall.Idempotent(ctx, func() (err error) {
		list, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		return err
	})
	if err != nil {
		return nil, apicall.Classify(err, "list", "pods "+selector+" in "+ns)
	}
	if _, err := Pick(list.Items, ns, selector, ResolveOptions{Require: req}); err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if ineligible(&list.Items[i], req) == "" {
			out = append(out, &list.Items[i])
		}
	}
	SortNewestFirst(out)
	return out, nil
}

// Pick chooses among pods matched by a selector: eligible pods only, the
// newest first (by creation time, then name).
func Pick(pods []corev1.Pod, ns, selector string, opts ResolveOptions) (*corev1.Pod, error) {
	var ok []*corev1.Pod
	var others []string
	for i := range pods {
		p := &pods[i]
		if why := ineligible(p, opts.Require); why != "" {
			others = append(others, p.Name+" ("+why+")")
			continue
		}
		ok = append(ok, p)
	}
	want := "Running and Ready"
	if opts.Require == Started {
		want = "started"
	}
	if len(ok) == 0 {
		if len(others) == 0 {
			return nil, task.Retryablef("no pod in namespace %s matches selector %s", ns, selector)
		}
		return nil, task.Retryablef("no %s pod in namespace %s matches selector %s; matching pods: %s", want, ns, selector, strings.Join(others, ", "))
	}
	SortNewestFirst(ok)
	if len(ok) > 1 && opts.ExactlyOne {
		names := make([]string, len(ok))
		for i, p := range ok {
			names[i] = p.Name
		}
		return nil, fmt.Errorf("selector %s matches %d %s pods in namespace %s (%s); this task needs exactly one: narrow the selector or name the pod", selector, len(ok), want, ns, strings.Join(names, ", "))
	}
	return ok[0], nil
}

// SortNewestFirst orders pods by creation time, newest first; ties by name.
func SortNewestFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i].CreationTimestamp.Time, pods[j].CreationTimestamp.Time
		if !a.Equal(b) {
			return a.After(b)
		}
		return pods[i].Name > pods[j].Name
	})
}

// ineligible says why a pod does not qualify, "" when it does.
func ineligible(p *corev1.Pod, req PodRequirement) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	switch req {
	case Started:
		if p.Status.Phase == corev1.PodPending {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
					return ""
				}
			}
			return "Pending" + waitingReasons(p)
		}
		return ""
	case running:
		if p.Status.Phase != corev1.PodRunning {
			return string(p.Status.Phase) + waitingReasons(p)
		}
		return ""
	default:
		if p.Status.Phase != corev1.PodRunning {
			return string(p.Status.Phase) + waitingReasons(p)
		}
		if !IsReady(p) {
			return "Running but not Ready" + waitingReasons(p)
		}
		return ""
	}
}

func waitingReasons(p *corev1.Pod) string {
	var rs []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			rs = append(rs, cs.Name+": "+cs.State.Waiting.Reason)
		}
	}
	if len(rs) == 0 {
		return ""
	}
	return ", " + strings.Join(rs, ", ")
}

// IsReady reports the pod's Ready condition.
func IsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Container picks the container a task works in: the named one (which must
// exist), else the pod's default-container annotation when it names a
// container, else the first container — as kubectl does.
func Container(pod *corev1.Pod, name string) (string, error) {
	names := make([]string, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	if name != "" {
		for _, n := range names {
			if n == name {
				return n, nil
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.Name == name {
				return name, nil
			}
		}
		for _, c := range pod.Spec.EphemeralContainers {
			if c.Name == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("pod %s/%s has no container %q (it has: %s)", pod.Namespace, pod.Name, name, strings.Join(names, ", "))
	}
	if def := pod.Annotations[DefaultContainerAnnotation]; def != "" {
		for _, n := range names {
			if n == def {
				return n, nil
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("pod %s/%s has no containers", pod.Namespace, pod.Name)
	}
	return names[0], nil
}
