package http

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// apiServer is a stand-in for the API server's proxy: handlers by path,
// every request recorded.
type apiServer struct {
	mu    sync.Mutex
	paths []string
	h     map[string]func(w nethttp.ResponseWriter, r *nethttp.Request)
}

func (s *apiServer) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	s.mu.Lock()
	s.paths = append(s.paths, r.Method+" "+r.URL.RequestURI())
	h := s.h[r.URL.Path]
	s.mu.Unlock()
	if h == nil {
		nethttp.Error(w, "no handler for "+r.URL.Path, 599)
		return
	}
	h(w, r)
}

func status(w nethttp.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: reason, Message: msg, Code: int32(code)})
}

func env(t *testing.T, s *apiServer) *task.Env {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &task.Env{Namespace: "ones", Logf: func(string, ...any) {}, Kube: kube.StaticProvider{C: &kube.Clients{Config: cfg, Typed: cs}}}
}

func prepare(t *testing.T, params map[string]any) task.Action {
	t.Helper()
	a, err := Type{}.Prepare(task.Params{Value: params, Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServiceProxyRetriesUntilExpected: the request goes through
// services/proxy with the path and query as given; the API server's 503
// while the Service has no endpoints, and an answer without the expected
// body, are repeated until the answer is right; the response is the
// outputs, with the jsonpath's value and the named groups.
func TestServiceProxyRetriesUntilExpected(t *testing.T) {
	n := 0
	s := &apiServer{h: map[string]func(nethttp.ResponseWriter, *nethttp.Request){
		"/api/v1/namespaces/ones/services/http:web:8081/proxy/api/info": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			n++
			switch n {
			case 1:
				status(w, 503, metav1.StatusReasonServiceUnavailable, `no endpoints available for service "web"`)
			case 2:
				fmt.Fprint(w, `{"state": "starting"}`)
			default:
				if r.Header.Get("X-Team") != "a" || r.URL.RawQuery != "full=1" {
					nethttp.Error(w, "bad request", 400)
					return
				}
				w.Header().Set("X-Served-By", "web-1")
				fmt.Fprint(w, `{"state": "ready", "version": "v1.2.3"}`)
			}
		},
	}}
	a := prepare(t, map[string]any{"service": "web", "port": 8081, "path": "/api/info?full=1", "interval": "5ms", "headers": map[string]any{"X-Team": "a"},
		"expect": map[string]any{"status": 200, "contains": "ready", "matches": `"version": "(?P<version>v[0-9.]+)"`, "jsonpath": "{.state}", "value": "ready"}})
	out, err := a.Run(context.Background(), env(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || out["attempts"] != 3 || out["status"] != 200 || out["value"] != "ready" || out["version"] != "v1.2.3" ||
		out["url"] != "/api/v1/namespaces/ones/services/http:web:8081/proxy/api/info?full=1" {
		t.Errorf("%d requests, outputs %v", n, out)
	}
	if h, _ := out["headers"].(map[string]any); h["X-Served-By"] != "web-1" {
		t.Errorf("headers %v", out["headers"])
	}
}

// TestPodProxyBySelector: a selector resolves to the newest ready pod, and
// the request goes through pods/proxy with the scheme and the number of the
// container port named (pods/proxy takes numbers only); a port name the pod
// does not have fails at once.
func TestPodProxyBySelector(t *testing.T) {
	now := time.Now()
	pod := func(name string, age time.Duration) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	s := &apiServer{h: map[string]func(nethttp.ResponseWriter, *nethttp.Request){
		"/api/v1/namespaces/ns/pods": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if r.URL.Query().Get("labelSelector") != "app=web" {
				nethttp.Error(w, "selector", 400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{pod("old", time.Hour), pod("new", time.Minute)}})
		},
		"/api/v1/namespaces/ns/pods/https:new:9090/proxy/": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.WriteHeader(204)
		},
	}}
	a := prepare(t, map[string]any{"selector": "app=web", "namespace": "ns", "port": "metrics", "scheme": "https", "expect": map[string]any{"status": []any{200, 204}}})
	out, err := a.Run(context.Background(), env(t, s))
	if err != nil || out["status"] != 204 {
		t.Fatalf("out %v err %v\nrequests %v", out, err, s.paths)
	}
	if d := a.Describe(); d != "GET / on the pod labelled app=web in ns, port metrics (https through the API server's pods/proxy), every 1s until: status 200 or 204" {
		t.Errorf("describe %q", d)
	}
	_, err = prepare(t, map[string]any{"selector": "app=web", "namespace": "ns", "port": "grpc"}).Run(context.Background(), env(t, s))
	if err == nil || !strings.Contains(err.Error(), `pod ns/new has no container port named "grpc" (it has: http, metrics)`) {
		t.Errorf("unknown port name: %v", err)
	}
}

// TestForbiddenFailsAtOnce: the API server refusing the proxy request
// (RBAC) is final; the backend's own 403 is an answer like any other.
func TestForbiddenFailsAtOnce(t *testing.T) {
	s := &apiServer{h: map[string]func(nethttp.ResponseWriter, *nethttp.Request){
		"/api/v1/namespaces/ones/services/http:web:80/proxy/": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			status(w, 403, metav1.StatusReasonForbidden, `services "web" is forbidden: User "bot" cannot get resource "services/proxy" in API group "" in the namespace "ones"`)
		},
		"/api/v1/namespaces/ones/services/http:app:80/proxy/": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			nethttp.Error(w, "go away", nethttp.StatusForbidden)
		},
	}}
	e := env(t, s)
	_, err := prepare(t, map[string]any{"service": "web", "port": 80}).Run(context.Background(), e)
	if err == nil || !strings.Contains(err.Error(), `the API server refused the proxy request to service ones/web port 80: 403 Forbidden: services "web" is forbidden`) || len(s.paths) != 1 {
		t.Fatalf("err %v after %d requests", err, len(s.paths))
	}
	out, err := prepare(t, map[string]any{"service": "app", "port": 80, "expect": map[string]any{"status": 403, "contains": "go away"}}).Run(context.Background(), e)
	if err != nil || out["status"] != 403 {
		t.Fatalf("backend 403: out %v err %v", out, err)
	}
}

// TestDeadlineSaysWhatWasWrong: when the task's time runs out, the error
// gives the last answer and what it lacked.
func TestDeadlineSaysWhatWasWrong(t *testing.T) {
	s := &apiServer{h: map[string]func(nethttp.ResponseWriter, *nethttp.Request){
		"/api/v1/namespaces/ones/services/http:web:80/proxy/health": func(w nethttp.ResponseWriter, r *nethttp.Request) {
			fmt.Fprint(w, "not yet")
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out, err := prepare(t, map[string]any{"service": "web", "port": 80, "path": "/health", "interval": "20ms", "expect": map[string]any{"contains": "ok"}}).Run(ctx, env(t, s))
	if err == nil || !strings.Contains(err.Error(), `service ones/web port 80 never answered as expected (status 2xx, body contains "ok")`) ||
		!strings.Contains(err.Error(), `status 200, but the body does not contain "ok"; body "not yet"`) {
		t.Fatalf("err %v", err)
	}
	if out["body"] != "not yet" || out["attempts"].(int) < 2 {
		t.Errorf("outputs %v", out)
	}
}

// TestPrepareChecks: parameters that can never work are refused before
// anything runs, at their field.
func TestPrepareChecks(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		field  string
	}{
		{map[string]any{"service": "a", "pod": "b", "port": 1}, ""},
		{map[string]any{"service": "a", "port": "a:b"}, "port"},
		{map[string]any{"service": "a", "port": 1, "path": "health"}, "path"},
		{map[string]any{"service": "a", "port": 1, "expect": map[string]any{"matches": []any{"ok", "("}}}, "expect.matches.1"},
		{map[string]any{"service": "a", "port": 1, "expect": map[string]any{"jsonpath": "{.a"}}, "expect.jsonpath"},
		{map[string]any{"service": "a", "port": 1, "expect": map[string]any{"value": "x"}}, "expect.value"},
		{map[string]any{"service": "a", "port": 1, "interval": "soon"}, "interval"},
		{map[string]any{"selector": "a=(", "port": 1}, "selector"},
		{map[string]any{"service": "a", "port": 1, "headers": map[string]any{"authorization": "Basic eA=="}}, "headers.authorization"},
	} {
		_, err := Type{}.Prepare(task.Params{Value: tc.params, Rendered: true})
		fp, _ := task.Field(err)
		if err == nil || strings.Join(fp, ".") != tc.field {
			t.Errorf("%v: err %v at %q, want at %q", tc.params, err, strings.Join(fp, "."), tc.field)
		}
	}
	// Stand-ins for values known at run time are not checked yet.
	if _, err := (Type{}).Prepare(task.Params{Value: map[string]any{"pod": "<tasks.app.pod>", "port": "<tasks.app.port>", "path": "<tasks.x.path>", "expect": map[string]any{"matches": "<tasks.x.re>"}}, Rendered: true}); err != nil {
		t.Errorf("stand-ins: %v", err)
	}
	if got := (Type{}).ParamOutputs(map[string]any{"expect": map[string]any{"matches": []any{"(?P<a>x)(?<b>y)"}}}); strings.Join(got, ",") != "a,b" {
		t.Errorf("param outputs %v", got)
	}
	if errs := (Type{}).Check(task.Params{Value: map[string]any{"expect": map[string]any{"matches": "(?P<status>x)"}}}); len(errs) != 1 {
		t.Errorf("check %v", errs)
	}
}
