package assertlogs

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

// outcome is how one pod's log went.
type outcome struct {
	pod string
	m   *Matcher
	err error
}

// many follows the logs of every started pod the selector matches when
// the task starts, at once. With pods: all each must meet the
// expectations (the first that cannot fails the task); with pods: any the
// first that does ends the task.
func (a *action) many(ctx context.Context, env *task.Env, cs kubernetes.Interface, ns string) (task.Outputs, error) {
	pods, err := pod.ResolveAll(ctx, cs, ns, a.Selector, pod.Started)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	k8s.Logf(env, "following the logs of %d pod(s): %s", len(pods), strings.Join(names, ", "))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan outcome, len(pods))
	for _, p := range pods {
		go func(p *corev1.Pod) {
			m, _ := NewMatcher(a.Contains, a.Matches, a.InOrder, a.Absent)
			container, err := pod.Container(p, a.Container)
			if err == nil {
				f := &follower{cs: cs, ns: ns, pod: p.Name, container: container, m: m, env: env}
				err = f.run(ctx, p)
			}
			results <- outcome{pod: p.Name, m: m, err: err}
		}(p)
	}
	var passed []outcome
	var failed []outcome
	for range pods {
		o := <-results
		if o.err == nil {
			passed = append(passed, o)
			if a.Pods == PodsAny {
				cancel() // one is enough
				break
			}
			continue
		}
		if ctx.Err() != nil && a.Pods == PodsAny && len(passed) > 0 {
			continue
		}
		failed = append(failed, o)
		if a.Pods == PodsAll {
			cancel() // one failing is enough
			break
		}
	}
	out := task.Outputs{"pod": "", "pods": []any{}, "lines": []any{}, "count": 0}
	if len(passed) > 0 {
		first := passed[0]
		out["pod"], out["lines"], out["count"] = first.pod, first.m.Matched(), first.m.Lines()
		for k, v := range first.m.Captures() {
			out[k] = v
		}
		var ok []any
		for _, o := range passed {
			ok = append(ok, o.pod)
		}
		out["pods"] = ok
	}
	switch {
	case a.Pods == PodsAny && len(passed) > 0:
		return out, nil
	case a.Pods == PodsAll && len(failed) == 0:
		return out, nil
	}
	var b strings.Builder
	if a.Pods == PodsAll {
		fmt.Fprintf(&b, "every pod labelled %s must pass, and pod %s did not (of %d: %s)", a.Selector, failed[0].pod, len(pods), strings.Join(names, ", "))
	} else {
		fmt.Fprintf(&b, "no pod labelled %s passed (%d tried: %s)", a.Selector, len(pods), strings.Join(names, ", "))
	}
	for _, o := range failed {
		b.WriteString("\n" + o.err.Error())
	}
	return out, fmt.Errorf("%s", b.String())
}
