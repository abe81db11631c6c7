package apicost

import (
	"testing"

	"github.com/kbrun/kbrun/test/faultproxy"
)

func TestOf(t *testing.T) {
	for _, c := range []struct {
		method, path, query, class, ctype string
		want                              Kind
	}{
		{"GET", "/api", "", "request", "", Discovery},
		{"GET", "/apis", "", "request", "", Discovery},
		{"GET", "/apis/apps/v1", "", "request", "", Discovery},
		{"GET", "/api/v1", "", "request", "", Discovery},
		{"GET", "/openapi/v3/apis/apps/v1", "hash=x", "request", "", Discovery},
		{"GET", "/version", "", "request", "", Discovery},
		{"GET", "/api/v1/namespaces/ones", "", "request", "", Get},
		{"GET", "/api/v1/namespaces", "", "request", "", List},
		{"GET", "/apis/apps/v1/namespaces/ones/deployments", "fieldSelector=metadata.name%3Dx", "request", "", List},
		{"GET", "/apis/apps/v1/namespaces/ones/deployments", "watch=true", "watch", "", Watch},
		{"GET", "/api/v1/watch/namespaces/ones/pods", "", "watch", "", Watch},
		{"GET", "/apis/apps/v1/namespaces/ones/deployments/b", "", "request", "", Get},
		{"PATCH", "/apis/apps/v1/namespaces/ones/deployments/b", "fieldManager=kbrun", "request", "application/apply-patch+yaml", Apply},
		{"PATCH", "/apis/apps/v1/namespaces/ones/deployments/b", "", "request", "application/strategic-merge-patch+json", Patch},
		{"POST", "/apis/apps/v1/namespaces/ones/deployments", "", "request", "application/json", Create},
		{"DELETE", "/apis/apps/v1/namespaces/ones/deployments/b", "", "request", "", Delete},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/ones/leases/kbrun-run-1", "", "request", "", Lease},
		{"GET", "/apis/coordination.k8s.io/v1/namespaces/ones/leases", "watch=true", "watch", "", Lease},
		{"POST", "/api/v1/namespaces/ones/pods/p/exec", "command=sh", "exec", "", Exec},
		{"GET", "/api/v1/namespaces/ones/pods/p/exec", "command=sh", "exec", "", Exec},
		{"GET", "/api/v1/namespaces/ones/pods/p/log", "follow=true", "log", "", Logs},
		{"GET", "/api/v1/namespaces/ones/pods/p/log", "", "request", "", Logs},
		{"GET", "/healthz", "", "request", "", Other},
	} {
		r := faultproxy.Request{Method: c.method, Path: c.path, Query: c.query, Class: c.class, ContentType: c.ctype}
		if got := Of(r); got != c.want {
			t.Errorf("%s %s?%s: %s, want %s", c.method, c.path, c.query, got, c.want)
		}
	}
}

func TestBreakdown(t *testing.T) {
	b := Count([]faultproxy.Request{
		{Method: "GET", Path: "/api"}, {Method: "GET", Path: "/apis"},
		{Method: "GET", Path: "/api/v1/namespaces/a/pods/p"},
	})
	if b.Total() != 3 || b[Discovery] != 2 || b[Get] != 1 {
		t.Fatalf("%v", b)
	}
	if got := b.String(); got != "3 requests (discovery 2, get 1)" {
		t.Errorf("String() = %q", got)
	}
	m := MedianRun([]Breakdown{{Get: 9}, {Get: 1, List: 1}, {Get: 4}})
	if m.Total() != 4 {
		t.Errorf("MedianRun: %v", m)
	}
	want := "| kind | a | b |\n|---|---|---|\n| discovery | 2 | 0 |\n| get | 1 | 4 |\n| **total** | **3** | **4** |\n"
	if got := Table([]string{"a", "b"}, []Breakdown{b, m}); got != want {
		t.Errorf("Table:\n%s\nwant\n%s", got, want)
	}
}
