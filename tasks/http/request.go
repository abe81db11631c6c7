package http

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"io"
	nethttp "net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

type action struct {
	Params
	interval time.Duration
	res      []*regexp.Regexp
	jp       *jsonpath.JSONPath
}

// UsesNamespace implements prepare.Namespaced.
func (a *action) UsesNamespace() string { return a.Namespace }

func (a *action) target(ns string) string {
	switch {
	case a.Service != "":
		return fmt.Sprintf("service %s/%s port %s", ns, a.Service, a.Port)
	case a.Pod != "":
		return fmt.Sprintf("pod %s/%s port %s", ns, a.Pod, a.Port)
	}
	return fmt.Sprintf("the pod labelled %s in %s, port %s", a.Selector, ns, a.Port)
}

func (a *action) goal() string {
	var want []string
	switch len(a.Expect.Status) {
	case 0:
		want = append(want, "status 2xx")
	case 1:
		want = append(want, fmt.Sprintf("status %d", a.Expect.Status[0]))
	default:
		codes := make([]string, len(a.Expect.Status))
		for i, c := range a.Expect.Status {
			codes[i] = strconv.Itoa(c)
		}
		want = append(want, "status "+strings.Join(codes, " or "))
	}
	for _, c := range a.Expect.Contains {
		want = append(want, "body contains "+strconv.Quote(c))
	}
	for _, re := range a.res {
		want = append(want, "body matches /"+re.String()+"/")
	}
	if a.Expect.JSONPath != "" {
		if a.Expect.Value != nil {
			want = append(want, fmt.Sprintf("%s = %q", a.Expect.JSONPath, *a.Expect.Value))
		} else {
			want = append(want, a.Expect.JSONPath+" is set")
		}
	}
	return strings.Join(want, ", ")
}

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	via := "services/proxy"
	if a.Service == "" {
		via = "pods/proxy"
	}
	return fmt.Sprintf("%s %s on %s (%s through the API server's %s), every %s until: %s", a.Method, a.Path, a.target(ns), a.Scheme, via, a.interval, a.goal())
}

// response is one answer, as far as it was read.
type response struct {
	status  int
	body    string
	headers map[string]any
	cut     bool
}

// maxBody bounds the body kept for outputs and checks.
const maxBody = 1 << 20

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ns := k8s.Namespace(a.Namespace, env)
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	rc, ok := c.Typed.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil || rc.Client == nil {
		return nil, fmt.Errorf("the run's clients have no REST client for the API server's proxy")
	}
	var last string
	var lastOut task.Outputs
	for attempt := 1; ; attempt++ {
		out, done, why, err := a.try(ctx, c, rc, ns)
		if out != nil {
			out["attempts"] = attempt
		}
		if done || err != nil {
			return out, err
		}
		if why != "" {
			if why != last {
				k8s.Logf(env, "attempt %d: %s", attempt, why)
			}
			last, lastOut = why, out
		}
		t := time.NewTimer(a.interval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			continue
		}
		if last == "" {
			last = "no answer before the task's time was up"
		}
		return lastOut, fmt.Errorf("%s never answered as expected (%s) in %d attempts: %s", a.target(ns), a.goal(), attempt, last)
	}
}

// try sends the request once. done is true when the response meets the
// expectations; why says what was wrong otherwise; err is a failure that
// no retry can mend (forbidden, a selector that can never match...).
func (a *action) try(ctx context.Context, c *kube.Clients, rc *rest.RESTClient, ns string) (task.Outputs, bool, string, error) {
	kind, name, port := "services", a.Service, string(a.Port)
	if a.Service == "" {
		kind = "pods"
		p, err := pod.ResolveWatched(ctx, c, ns, pod.Target{Pod: a.Pod, Selector: a.Selector}, pod.ResolveOptions{})
		if err != nil {
			if task.IsRetryable(err) {
				return nil, false, err.Error(), nil
			}
			return nil, false, "", err
		}
		name = p.Name
		// pods/proxy takes a port number only (a Service resolves names).
		if port, err = portNumber(p, port); err != nil {
			return nil, false, "", err
		}
	}
	u := rc.Verb(a.Method).Namespace(ns).Resource(kind).Name(a.Scheme + ":" + name + ":" + port).SubResource("proxy").URL()
	path, query, _ := strings.Cut(a.Path, "?")
	u.Path += path // as given: a trailing slash matters to some servers
	u.RawQuery = query
	out := task.Outputs{"url": u.RequestURI(), "status": 0, "body": "", "headers": map[string]any{}, "value": ""}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var body io.Reader
	if a.Body != nil {
		body = strings.NewReader(*a.Body)
	}
	req, err := nethttp.NewRequestWithContext(rctx, a.Method, u.String(), body)
	if err != nil {
		return out, false, "", err
	}
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	resp, err := rc.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return out, false, "", nil // the task's time is up: Run says why
		}
		return out, false, "no answer: " + err.Error(), nil
	}
	r, err := read(resp)
	if err != nil {
		return out, false, "the answer broke off: " + err.Error(), nil
	}
	out["status"], out["body"], out["headers"] = r.status, r.body, r.headers
	if why := apiRefusal(r); why != "" {
		return out, false, "", fmt.Errorf("the API server refused the proxy request to %s: %s", a.target(ns), why)
	}
	why := a.judge(r, out)
	return out, why == "", why, nil
}

// portNumber resolves a container port's name on a pod.
func portNumber(pod *corev1.Pod, port string) (string, error) {
	if _, err := strconv.Atoi(port); err == nil {
		return port, nil
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port {
				return strconv.Itoa(int(p.ContainerPort)), nil
			}
			if p.Name != "" {
				names = append(names, p.Name)
			}
		}
	}
	has := "none is named"
	if len(names) > 0 {
		has = "it has: " + strings.Join(names, ", ")
	}
	return "", fmt.Errorf("pod %s/%s has no container port named %q (%s)", pod.Namespace, pod.Name, port, has)
}

func read(resp *nethttp.Response) (response, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	r := response{status: resp.StatusCode, headers: map[string]any{}}
	if len(b) > maxBody {
		b, r.cut = b[:maxBody], true
	}
	r.body = string(b)
	for k, v := range resp.Header {
		if len(v) > 0 {
			r.headers[k] = v[0]
		}
	}
	return r, err
}
