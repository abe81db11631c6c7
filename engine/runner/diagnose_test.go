package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/run"
)

// clusterFake is the fake task type as a cluster type: the runner keeps
// what a diagnosis needs for its runs. Its actions send no request.
type clusterFake struct{ *fake }

func (clusterFake) Name() string      { return "kfake" }
func (clusterFake) UsesCluster() bool { return true }

// countingAPI answers every request with the namespace's events (one
// quotes the secret) or an empty list, and counts them.
type countingAPI struct{ n atomic.Int64 }

func (c *countingAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	var body any = &corev1.PodList{}
	if strings.HasSuffix(r.URL.Path, "/events") {
		body = &corev1.EventList{Items: []corev1.Event{{
			ObjectMeta:     metav1.ObjectMeta{Name: "e", Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1"},
			Type:           "Warning", Reason: "Failed", Message: "login " + diagSecret + " refused", Count: 1,
		}}}
	}
	b, _ := json.Marshal(body)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b)), Request: r}, nil
}

const diagSecret = "hunter2-s3cret"

// countingClients are the run's clients over a countingAPI.
func countingClients(t *testing.T) (*countingAPI, kube.StaticProvider) {
	t.Helper()
	api := &countingAPI{}
	typed, err := kubernetes.NewForConfig(&rest.Config{Host: "http://cluster.invalid", Transport: api})
	if err != nil {
		t.Fatal(err)
	}
	return api, kube.StaticProvider{C: &kube.Clients{Typed: typed, Namespace: "team"}}
}

const diagPipeline = `vars:
  token: {default: ` + diagSecret + `, secret: true}
tasks:
  - name: first
    kfake: {id: a}
  - name: check
    kfake: {id: "{{ .vars.token }}", fatalIf: "{{ .vars.fail }}"}
    diagnose:
      resources: [{kind: ConfigMap, name: web-config}]
finally:
  - name: cleanup
    kfake: {id: c}
`

// diagRun runs diagPipeline (failing when fail) against the counting API
// with diagnostics under dir; it returns the requests sent, the JUnit
// report and the events.
func diagRun(t *testing.T, fail, dir string, mod func(*runner.Options)) (*runner.Result, int64, string, []report.Event) {
	t.Helper()
	api, kc := countingClients(t)
	h := newHarness()
	h.reg = task.NewRegistry(clusterFake{h.fake}, run.Type{})
	junit := report.NewJUnit()
	p := h.load(t, strings.Replace(diagPipeline, "vars:\n", "vars:\n  fail: "+fail+"\n", 1))
	o := h.opts()
	o.Reporter = report.Multi{h.rec, junit}
	o.Kube = kc
	o.Namespace = "team"
	o.Diagnostics = dir
	if mod != nil {
		mod(&o)
	}
	res := runner.Run(context.Background(), p, o)
	var b bytes.Buffer
	if err := junit.Write(&b); err != nil {
		t.Fatal(err)
	}
	return res, api.n.Load(), b.String(), h.rec.Events()
}

// TestPassingRunSendsNoDiagnosisRequest: a run that passes sends no
// request for a diagnosis and writes no folder.
func TestPassingRunSendsNoDiagnosisRequest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "diag")
	res, requests, _, _ := diagRun(t, "false", dir, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if requests != 0 {
		t.Errorf("a passing run sent %d requests for a diagnosis", requests)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a passing run made the diagnostics folder (%v)", err)
	}
}

// TestFailedRunIsDiagnosed: a failed run writes DIR/RUNID, masked, says
// so in its events and its JUnit failure, before finally runs.
func TestFailedRunIsDiagnosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "diag")
	res, requests, junit, events := diagRun(t, "true", dir, nil)
	if res.Err == nil {
		t.Fatal("the run passed")
	}
	if requests == 0 {
		t.Error("the diagnosis sent no request")
	}
	folder := filepath.Join(dir, "20000101000000-0000")
	summary, err := os.ReadFile(filepath.Join(folder, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(failed: check) in " + folder, "latest warning: Failed team/pod/web-1: login *** refused",
		"diagnose resource configmap/web-config of task check"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary.txt lacks %q:\n%s", want, summary)
		}
	}
	for _, f := range []string{"summary.txt", "events.txt", "run-events.jsonl"} {
		b, err := os.ReadFile(filepath.Join(folder, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), diagSecret) {
			t.Errorf("%s shows the secret:\n%s", f, b)
		}
	}
	// The diagnosis comes after the failed task and before finally.
	var order []string
	for _, e := range events {
		switch {
		case e.Type == report.Diagnostics:
			order = append(order, "diagnostics")
			if e.Diagnostics != folder {
				t.Errorf("run.diagnostics names %q, want %q", e.Diagnostics, folder)
			}
		case e.Type == report.TaskEnd:
			order = append(order, e.Task)
		}
	}
	if got := strings.Join(order, " "); got != "first check diagnostics cleanup" {
		t.Errorf("events in the order %s", got)
	}
	if !strings.Contains(junit, "diagnostics: "+folder) {
		t.Errorf("the JUnit failure does not link the folder:\n%s", junit)
	}
}

// TestDiagnosisDuringAnOutage: while the API server does not answer, a
// diagnosis asks it nothing (its requests would wait, spending the
// finally tasks' time) and says why.
func TestDiagnosisDuringAnOutage(t *testing.T) {
	dir := t.TempDir()
	res, requests, _, _ := diagRun(t, "true", dir, func(o *runner.Options) {
		o.Outages = func(time.Time) []kube.Outage {
			return []kube.Outage{{Since: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), Err: errors.New("connection refused")}}
		}
	})
	if res.Err == nil {
		t.Fatal("the run passed")
	}
	if requests != 0 {
		t.Errorf("%d requests to a server that does not answer", requests)
	}
	summary, err := os.ReadFile(filepath.Join(dir, "20000101000000-0000", "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "the API server has not answered since 10:00:00 (connection refused)"; !strings.Contains(string(summary), want) {
		t.Errorf("summary.txt lacks %q:\n%s", want, summary)
	}
}

// TestRefusedValueIsNotDiagnosed: a run that stops at a value refused
// before its task could run (a timeout only known at run time) sends no
// request for a diagnosis: the cluster cannot explain it, and nothing
// about an invalid value may reach it.
func TestRefusedValueIsNotDiagnosed(t *testing.T) {
	api, kc := countingClients(t)
	h := newHarness()
	h.reg = task.NewRegistry(clusterFake{h.fake}, run.Type{})
	p := h.load(t, `tasks:
  - name: first
    kfake: {id: a, out: "not a duration"}
  - name: check
    timeout: "{{ .tasks.first.value }}"
    kfake: {id: b}
`)
	o := h.opts()
	o.Kube = kc
	o.Namespace = "team"
	dir := filepath.Join(t.TempDir(), "diag")
	o.Diagnostics = dir
	res := runner.Run(context.Background(), p, o)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "not a duration") {
		t.Fatalf("err = %v, want the refused timeout", res.Err)
	}
	if n := api.n.Load(); n != 0 {
		t.Errorf("%d requests for a diagnosis of a refused value", n)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the diagnostics folder was made (%v)", err)
	}
}
