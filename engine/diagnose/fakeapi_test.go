package diagnose

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kbrun/kbrun/engine/kube"
)

// fakeAPI answers the requests a diagnosis makes from fixed objects, and
// counts them: a real clientset over it, so that logs, queries and the
// number of requests are what a cluster would see.
type fakeAPI struct {
	t *testing.T
	// objects by path, e.g. /api/v1/namespaces/team/events; logs by path
	// and previous (…/log?previous=true).
	objects map[string]runtime.Object
	logs    map[string]string

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakeAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
	answer := func(code int, body string) (*http.Response, error) {
		return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
	path := r.URL.Path
	if strings.HasSuffix(path, "/log") {
		key := path
		if r.URL.Query().Get("previous") == "true" {
			key += "?previous"
		}
		if l, ok := f.logs[key]; ok {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader(l)), Request: r}, nil
		}
		return answer(404, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"no log"}`)
	}
	if o, ok := f.objects[path]; ok {
		b, err := json.Marshal(o)
		if err != nil {
			f.t.Fatal(err)
		}
		return answer(200, string(b))
	}
	return answer(404, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}`)
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// clients are the run's clients over the fake API.
func (f *fakeAPI) clients() *kube.Clients {
	cfg := &rest.Config{Host: "http://cluster.invalid", Transport: f}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return &kube.Clients{Config: cfg, Typed: typed, Namespace: "default"}
}
