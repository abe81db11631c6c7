// Package http is the `http` task type: an HTTP request to a Service's or a
// pod's port through the API server's proxy subresources (services/proxy,
// pods/proxy), repeated until the response meets the expectations or the
// task's deadline passes. It needs no port-forward process and no route
// from the machine to the pod network, only the API server (as Chainsaw's
// proxy operation does).
package http

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	nethttp "net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/expect"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the http task type.
type Type struct{}

// Port is a port number or name.
type Port string

// UnmarshalJSON takes a number or a string.
func (p *Port) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*p = Port(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*p = Port(s)
	return nil
}

// Statuses is one status code or a list.
type Statuses []int

// UnmarshalJSON takes a number or a list.
func (s *Statuses) UnmarshalJSON(b []byte) error {
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Statuses{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Expect is what the response must be.
type Expect struct {
	Status   Statuses       `json:"status,omitempty"`
	Contains expect.Strings `json:"contains,omitempty"`
	Matches  expect.Strings `json:"matches,omitempty"`
	JSONPath string         `json:"jsonpath,omitempty"`
	Value    *string        `json:"value,omitempty"`
}

// Params are the http task's parameters.
type Params struct {
	Service   string            `json:"service,omitempty"`
	Pod       string            `json:"pod,omitempty"`
	Selector  string            `json:"selector,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Port      Port              `json:"port"`
	Scheme    string            `json:"scheme,omitempty"`
	Path      string            `json:"path,omitempty"`
	Method    string            `json:"method,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      *string           `json:"body,omitempty"`
	Interval  string            `json:"interval,omitempty"`
	Expect    Expect            `json:"expect,omitempty"`
}

func (Type) Name() string { return "http" }
func (Type) Summary() string {
	return "An HTTP request to a Service's or a pod's port through the API server's `services/proxy` / `pods/proxy` (no port-forward, no route to the pod network), repeated until the answer has the expected status (default any 2xx), body (`contains`, `matches`) and JSONPath value, or the task's timeout passes"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string {
	return []string{"status", "body", "headers", "value", "url", "attempts"}
}

// UsesCluster implements task.ClusterType.
func (Type) UsesCluster() bool { return true }

var groupName = regexp.MustCompile(`\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>`)

// ParamOutputs implements task.ParamOutputs: the named groups of
// expect.matches.
func (Type) ParamOutputs(params any) []string {
	m, _ := params.(map[string]any)
	e, _ := m["expect"].(map[string]any)
	var pats []string
	switch x := e["matches"].(type) {
	case string:
		pats = append(pats, x)
	case []any:
		for _, item := range x {
			if s, ok := item.(string); ok {
				pats = append(pats, s)
			}
		}
	}
	var out []string
	for _, p := range pats {
		for _, g := range groupName.FindAllStringSubmatch(p, -1) {
			out = append(out, g[1])
		}
	}
	sort.Strings(out)
	return out
}

// Check implements task.Checker: a named group may not hide an output.
func (t Type) Check(p task.Params) []task.FieldError {
	var errs []task.FieldError
	for _, name := range t.ParamOutputs(p.Value) {
		if slices.Contains(t.Outputs(), name) || slices.Contains(task.EndOutputs, name) {
			errs = append(errs, task.FieldError{Path: []string{"expect", "matches"}, Message: fmt.Sprintf("group name %q is already an output of the task: name the group otherwise", name)})
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
	n := 0
	for _, s := range []string{params.Service, params.Pod, params.Selector} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("give exactly one of service, pod and selector")
	}
	var ps task.Problems
	ps.Check([]string{"service"}, params.Service, valid.ServiceName)
	ps.Check([]string{"pod"}, params.Pod, valid.PodName)
	ps.Check([]string{"selector"}, params.Selector, valid.Selector)
	ps.Check([]string{"namespace"}, params.Namespace, valid.Namespace)
	ps.Check([]string{"port"}, string(params.Port), valid.Port)
	if params.Path == "" {
		params.Path = "/"
	}
	ps.Check([]string{"path"}, params.Path, valid.Path)
	if params.Method == "" {
		params.Method = nethttp.MethodGet
	}
	ps.Check([]string{"method"}, params.Method, valid.Method)
	for _, h := range slices.Sorted(maps.Keys(params.Headers)) {
		if strings.EqualFold(h, "Authorization") {
			// The API server authenticates the caller with it and drops it.
			ps.Add([]string{"headers", h}, fmt.Errorf("the API server's proxy does not pass Authorization on (it is the credential kbrun's own requests carry there, and the API server removes it): send the app's credential in a header of its own"))
		}
		ps.Check([]string{"headers", h}, h, valid.HeaderName)
		if v := params.Headers[h]; !task.IsUnknown(v) {
			if err := valid.HeaderValue(v); err != nil {
				ps.Add([]string{"headers", h}, err)
			}
		}
	}
	if params.Scheme == "" {
		params.Scheme = "http"
	}
	interval, err := k8s.ParseDuration("interval", params.Interval, time.Second)
	ps.Keep(err)
	if err == nil && interval <= 0 {
		ps.Add([]string{"interval"}, fmt.Errorf("%q: the wait between attempts must be longer than 0", params.Interval))
	} else if err == nil && params.Interval != "" && !task.IsUnknown(params.Interval) {
		// One that the timeout always ends first never repeats.
		if err := valid.AtMost("interval", interval, p.Timeout); err != nil {
			ps.Add([]string{"interval"}, err)
		}
	}
	a := &action{Params: params, interval: interval}
	for i, m := range params.Expect.Matches {
		if task.IsUnknown(m) {
			m = regexp.QuoteMeta(m)
		}
		re, err := regexp.Compile(m)
		if err != nil {
			ps.Add([]string{"expect", "matches", strconv.Itoa(i)}, fmt.Errorf("%q is not a regular expression: %v", m, strings.TrimPrefix(err.Error(), "error parsing regexp: ")))
			continue
		}
		a.res = append(a.res, re)
	}
	if params.Expect.Value != nil && params.Expect.JSONPath == "" {
		ps.Add([]string{"expect", "value"}, fmt.Errorf("value goes with jsonpath"))
	}
	if jp := params.Expect.JSONPath; jp != "" && !task.IsUnknown(jp) {
		if !strings.HasPrefix(jp, "{") {
			jp = "{" + jp + "}"
		}
		a.jp = jsonpath.New("http")
		if err := a.jp.Parse(jp); err != nil {
			ps.Add([]string{"expect", "jsonpath"}, fmt.Errorf("%q is not a JSONPath expression: %v", params.Expect.JSONPath, err))
		}
	}
	if field, why := bodyless(params); field != nil {
		ps.Add(field, errors.New(why))
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	a.Params.Namespace = params.Namespace
	return a, nil
}

// bodyless says why a body expectation can never hold: the answer to a
// HEAD request, and a 204, 205 or 304 answer, have no body (RFC 9110).
func bodyless(p Params) ([]string, string) {
	var body []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"contains", len(p.Expect.Contains) > 0}, {"matches", len(p.Expect.Matches) > 0}, {"jsonpath", p.Expect.JSONPath != ""}} {
		if f.set {
			body = append(body, f.name)
		}
	}
	if len(body) == 0 {
		return nil, ""
	}
	field := []string{"expect", body[0]}
	if p.Method == nethttp.MethodHead {
		return field, fmt.Sprintf("expect.%s can never hold: the answer to a HEAD request has no body", body[0])
	}
	if len(p.Expect.Status) == 0 {
		return nil, ""
	}
	for _, s := range p.Expect.Status {
		if s != nethttp.StatusNoContent && s != nethttp.StatusResetContent && s != nethttp.StatusNotModified {
			return nil, ""
		}
	}
	return field, fmt.Sprintf("expect.%s can never hold: an answer with status %s has no body", body[0], task.JoinOr(statusList(p.Expect.Status)))
}

func statusList(codes []int) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = strconv.Itoa(c)
	}
	return out
}

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
		pod, err := k8s.ResolveWatchedPod(ctx, c, ns, k8s.Target{Pod: a.Pod, Selector: a.Selector}, k8s.ResolveOptions{})
		if err != nil {
			if task.IsRetryable(err) {
				return nil, false, err.Error(), nil
			}
			return nil, false, "", err
		}
		name = pod.Name
		// pods/proxy takes a port number only (a Service resolves names).
		if port, err = portNumber(pod, port); err != nil {
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

// apiRefusal says why the API server itself refused the request (no
// rights, bad credentials), "" for an answer worth waiting on: the
// backend's, or the API server's 503 while the Service has no ready
// endpoint yet.
func apiRefusal(r response) string {
	if r.status != nethttp.StatusForbidden && r.status != nethttp.StatusUnauthorized {
		return ""
	}
	var st metav1.Status
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || st.Kind != "Status" {
		return "" // the backend's own 401/403
	}
	return fmt.Sprintf("%d %s: %s", r.status, st.Reason, st.Message)
}

// judge returns what is wrong with a response ("" when nothing), and fills
// the outputs it computes (value, named groups).
func (a *action) judge(r response, out task.Outputs) string {
	if !a.statusOK(r.status) {
		return fmt.Sprintf("status %d, body %s", r.status, snippet(r.body))
	}
	var wrong []string
	for _, c := range a.Expect.Contains {
		if !strings.Contains(r.body, c) {
			wrong = append(wrong, "the body does not contain "+strconv.Quote(c))
		}
	}
	for _, re := range a.res {
		m := re.FindStringSubmatch(r.body)
		if m == nil {
			wrong = append(wrong, "the body does not match /"+re.String()+"/")
			continue
		}
		for i, n := range re.SubexpNames() {
			if n != "" {
				out[n] = m[i]
			}
		}
	}
	if a.jp != nil {
		v, why := a.value(r.body)
		out["value"] = v
		switch {
		case why != "":
			wrong = append(wrong, why)
		case a.Expect.Value != nil && v != *a.Expect.Value:
			wrong = append(wrong, fmt.Sprintf("%s is %q, expected %q", a.Expect.JSONPath, v, *a.Expect.Value))
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	if r.cut {
		wrong = append(wrong, fmt.Sprintf("(only the first %d bytes of the body were read)", maxBody))
	}
	return fmt.Sprintf("status %d, but %s; body %s", r.status, strings.Join(wrong, ", "), snippet(r.body))
}

func (a *action) statusOK(code int) bool {
	if len(a.Expect.Status) == 0 {
		return code >= 200 && code < 300
	}
	for _, c := range a.Expect.Status {
		if c == code {
			return true
		}
	}
	return false
}

// value evaluates the jsonpath over the JSON body.
func (a *action) value(body string) (string, string) {
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return "", "the body is not JSON, so " + a.Expect.JSONPath + " cannot be read"
	}
	results, err := a.jp.FindResults(doc)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return "", a.Expect.JSONPath + " finds nothing in the body"
	}
	var buf bytes.Buffer
	if err := a.jp.PrintResults(&buf, results[0]); err != nil {
		return "", err.Error()
	}
	return buf.String(), ""
}

func snippet(body string) string {
	body = strings.TrimSpace(body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	if body == "" {
		return "empty"
	}
	return strconv.Quote(body)
}
