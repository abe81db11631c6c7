// Package assertlogs is the `assertLogs` task type: follow a container's log
// stream from the start until expectations hold, surviving restarts.
package assertlogs

import (
	"bufio"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the assertLogs task type.
type Type struct{}

// Params are the assertLogs task's parameters.
type Params struct {
	k8s.Target
	ExactlyOne bool     `json:"exactlyOne,omitempty"`
	Contains   []string `json:"contains,omitempty"`
	Matches    []string `json:"matches,omitempty"`
	InOrder    bool     `json:"inOrder,omitempty"`
	Absent     []string `json:"absent,omitempty"`
	// Pods says, with a selector, whose logs count: the newest started
	// pod's (default), every started pod's (all), or any one's (any).
	Pods string `json:"pods,omitempty"`
}

// Pods modes.
const (
	PodsNewest = "newest"
	PodsAll    = "all"
	PodsAny    = "any"
)

func (Type) Name() string { return "assertLogs" }
func (Type) Summary() string {
	return "Follow a pod's logs until every expectation holds (`contains`, `matches`, `inOrder`, `absent`); with a selector, `pods: all` wants every matching pod to pass, `pods: any` one of them"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"pod", "pods", "lines", "count"} }

var groupName = regexp.MustCompile(`\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>`)

// ParamOutputs implements task.ParamOutputs: the named groups of matches
// (from the line that met each).
func (t Type) ParamOutputs(params any) []string {
	m, _ := params.(map[string]any)
	list, _ := m["matches"].([]any)
	var out []string
	for _, item := range list {
		s, _ := item.(string)
		for _, g := range groupName.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(out, g[1]) {
				out = append(out, g[1])
			}
		}
	}
	return out
}

// Check implements task.Checker: a named group may not hide an output.
func (t Type) Check(p task.Params) []task.FieldError {
	var errs []task.FieldError
	for _, name := range t.ParamOutputs(p.Value) {
		if slices.Contains(t.Outputs(), name) || slices.Contains(task.EndOutputs, name) {
			errs = append(errs, task.FieldError{Path: []string{"matches"}, Message: fmt.Sprintf("group name %q is already an output of the task: name the group otherwise", name)})
		}
	}
	return errs
}

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if err := params.Target.Validate(); err != nil {
		return nil, err
	}
	if len(params.Contains)+len(params.Matches)+len(params.Absent) == 0 {
		return nil, fmt.Errorf("give at least one of contains, matches and absent")
	}
	if _, err := NewMatcher(params.Contains, params.Matches, params.InOrder, params.Absent); err != nil {
		return nil, err
	}
	switch params.Pods {
	case "":
		params.Pods = PodsNewest
	case PodsNewest:
	case PodsAll, PodsAny:
		if params.Selector == "" {
			return nil, task.Fieldf([]string{"pods"}, "pods: %s goes with selector (a pod named is one pod)", params.Pods)
		}
		if params.ExactlyOne {
			return nil, task.Fieldf([]string{"exactlyOne"}, "exactlyOne goes with pods: newest")
		}
	default:
		return nil, task.Fieldf([]string{"pods"}, "%q: give newest, all or any", params.Pods)
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return &action{Params: params}, nil
}

type action struct{ Params }

// Namespace is the pod's namespace.
func (a *action) UsesNamespace() string { return a.Target.Namespace }

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	var want []string
	for _, c := range a.Contains {
		want = append(want, strconv.Quote(c))
	}
	for _, m := range a.Matches {
		want = append(want, "/"+m+"/")
	}
	s := "check the log of " + a.Target.String(ns)
	switch a.Pods {
	case PodsAll:
		s = fmt.Sprintf("check the logs of every started pod labelled %s in %s (all must pass)", a.Selector, ns)
	case PodsAny:
		s = fmt.Sprintf("check the logs of the started pods labelled %s in %s (any one may pass)", a.Selector, ns)
	}
	if a.Container != "" && a.Pods != PodsNewest {
		s += " (container " + a.Container + ")"
	}
	if len(want) > 0 {
		s += " for " + task.JoinAnd(want)
		if a.InOrder && len(want) > 1 {
			s += " in that order"
		}
	}
	if len(a.Absent) > 0 {
		var ab []string
		for _, x := range a.Absent {
			ab = append(ab, strconv.Quote(x))
		}
		if len(want) > 0 {
			s += ", and"
		}
		s += " that it never shows " + task.JoinOr(ab)
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ns := k8s.Namespace(a.Namespace, env)
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	if a.Pods != PodsNewest {
		return a.many(ctx, env, c.Typed, ns)
	}
	pod, err := k8s.ResolveWatchedPod(ctx, c, ns, a.Target, k8s.ResolveOptions{Require: k8s.Started, ExactlyOne: a.ExactlyOne})
	if err != nil {
		return nil, err
	}
	container, err := k8s.Container(pod, a.Container)
	if err != nil {
		return nil, err
	}
	m, _ := NewMatcher(a.Contains, a.Matches, a.InOrder, a.Absent)
	f := &follower{cs: c.Typed, ns: ns, pod: pod.Name, container: container, m: m, env: env}
	err = f.run(ctx, pod)
	out := task.Outputs{"pod": pod.Name, "pods": []any{pod.Name}, "lines": m.Matched(), "count": m.Lines()}
	for k, v := range m.Captures() {
		out[k] = v
	}
	if err != nil {
		return out, err
	}
	return out, nil
}

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
		case err != nil && !k8s.IsTransient(err):
			return k8s.Classify(err, "read the log of", f.where())
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
		return nil, k8s.Classify(err, "watch", "pod "+f.ns+"/"+f.pod)
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
