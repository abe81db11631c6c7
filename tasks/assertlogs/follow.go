package assertlogs

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// follower reads a container's logs: previous instance first, then the
// current one followed; on a restart it moves on to the new instance.
type follower struct {
	cs                 kubernetes.Interface
	ns, pod, container string
	m                  *Matcher
	env                *task.Env
	lastTS             time.Time
	sameInstance       bool
}

var errDone = errors.New("expectations met")

func (f *follower) where() string {
	return fmt.Sprintf("container %s of pod %s/%s", f.container, f.ns, f.pod)
}

func (f *follower) run(ctx context.Context, pod *corev1.Pod) error {
	positive := f.m.HasPositive()
	st := containerStatus(pod, f.container)
	if st != nil && st.RestartCount > 0 {
		// The instance before the current one: its lines count too.
		if err := f.read(ctx, &corev1.PodLogOptions{Container: f.container, Previous: true, Timestamps: true}, false); err != nil {
			if errors.Is(err, errDone) {
				return nil
			}
			if f.m.Violation != "" {
				return f.failure(f.m.Violation)
			}
			// Previous logs may be gone (garbage collected): go on.
		}
	}
	followed := ""
	for {
		if st != nil {
			followed = st.ContainerID
		}
		opts := &corev1.PodLogOptions{Container: f.container, Follow: positive, Timestamps: true}
		if !f.lastTS.IsZero() && followed != "" && st != nil && st.ContainerID == followed && f.sameInstance {
			t := metav1.NewTime(f.lastTS)
			opts.SinceTime = &t
		}
		err := f.read(ctx, opts, f.sameInstance)
		f.sameInstance = false
		switch {
		case errors.Is(err, errDone):
			return nil
		case f.m.Violation != "":
			return f.failure(f.m.Violation)
		case ctx.Err() != nil:
			return f.failure(fmt.Sprintf("timed out (%v)", ctx.Err()))
		case err != nil && apierrors.IsBadRequest(err):
			// "container is waiting to start": wait for an instance below.
		case err != nil && !apicall.IsTransient(err):
			return apicall.Classify(err, "read the log of", f.where())
		}
		if !positive {
			return nil // only absent expectations: the log so far is clean
		}
		// The stream ended: the container stopped. Wait for its next
		// instance, or give up if there will be none.
		next, err := f.nextInstance(ctx, followed)
		if err != nil {
			return err
		}
		if next == nil {
			return f.failure("the container stopped and will not restart")
		}
		if next.ContainerID == followed {
			f.sameInstance = true // same instance: the stream broke; resume
		} else {
			k8s.Logf(f.env, "%s restarted (%d restarts); following the new instance", f.where(), next.RestartCount)
		}
		st = next
	}
}

// read streams one log request through the matcher. It returns errDone when
// every expectation holds.
func (f *follower) read(ctx context.Context, opts *corev1.PodLogOptions, skipSeen bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := f.cs.CoreV1().Pods(f.ns).GetLogs(f.pod, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	return f.consume(rc, skipSeen)
}

// consume feeds timestamped log lines to the matcher.
func (f *follower) consume(r io.Reader, skipSeen bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	seen := f.lastTS
	for {
		raw, err := br.ReadString('\n')
		if len(raw) > 0 {
			line := strings.TrimRight(raw, "\r\n")
			ts, text := splitTimestamp(line)
			if skipSeen && !ts.IsZero() && !ts.After(seen) {
				// already read before the stream broke
			} else {
				if !ts.IsZero() {
					f.lastTS = ts
				}
				if f.m.Line(text) {
					if f.m.Violation != "" {
						return fmt.Errorf("absent line seen")
					}
					return errDone
				}
				if f.m.Violation != "" {
					return fmt.Errorf("absent line seen")
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// splitTimestamp splits kubelet's "RFC3339Nano text" line.
func splitTimestamp(line string) (time.Time, string) {
	ts, text, ok := strings.Cut(line, " ")
	if !ok {
		ts, text = line, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, line
	}
	return t, text
}

// nextInstance waits by watch until the container runs again (a new
// instance, or the same one if only the stream broke). It returns nil when
// the container has stopped for good.
func (f *follower) nextInstance(ctx context.Context, followed string) (*corev1.ContainerStatus, error) {
	sel := fields.OneTermEqualSelector("metadata.name", f.pod).String()
	pods := f.cs.CoreV1().Pods(f.ns)
	lw := k8s.ListWatch(pods, sel, "")
	var found *corev1.ContainerStatus
	var final bool
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			final = true
			return true, nil
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		st := containerStatus(p, f.container)
		if st == nil {
			return false, nil
		}
		switch {
		case st.ContainerID != "" && st.ContainerID != followed && (st.State.Running != nil || st.State.Terminated != nil):
			found = st
			return true, nil
		case st.ContainerID == followed && st.State.Running != nil:
			found = st // still running: the stream broke
			return true, nil
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil:
			final = true
			return true, nil
		case st.State.Terminated != nil && willNotRestart(p, st):
			final = true
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, f.failure(fmt.Sprintf("timed out waiting for the container to restart (%v)", ctx.Err()))
		}
		return nil, apicall.Classify(err, "watch", "pod "+f.ns+"/"+f.pod)
	}
	if final {
		return nil, nil
	}
	return found, nil
}

func willNotRestart(p *corev1.Pod, st *corev1.ContainerStatus) bool {
	switch p.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return true
	case corev1.RestartPolicyOnFailure:
		return st.State.Terminated.ExitCode == 0
	}
	return false
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// failure names each unmet expectation and shows the last 50 lines.
func (f *follower) failure(why string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "the log of %s did not meet expectations: %s", f.where(), why)
	if un := f.m.Unmet(); len(un) > 0 && f.m.Violation == "" {
		b.WriteString("\nnever seen:")
		for _, u := range un {
			b.WriteString("\n  - " + u)
		}
	}
	tail := f.m.Tail()
	if len(tail) == 0 {
		b.WriteString("\nthe log is empty")
	} else {
		fmt.Fprintf(&b, "\nlast %d of %d lines:", len(tail), f.m.Lines())
		for _, l := range tail {
			b.WriteString("\n  | " + l)
		}
	}
	return fmt.Errorf("%s", b.String())
}
