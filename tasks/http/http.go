// Package http is the `http` task type: an HTTP request to a Service's or a
// pod's port through the API server's proxy subresources (services/proxy,
// pods/proxy), repeated until the response meets the expectations or the
// task's deadline passes. It needs no port-forward process and no route
// from the machine to the pod network, only the API server (as Chainsaw's
// proxy operation does).
package http

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	nethttp "net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

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
