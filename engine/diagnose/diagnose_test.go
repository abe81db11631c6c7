package diagnose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/secret"
)

const token = "hunter2-s3cret"

var t0 = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

func ev(name, typ, reason, msg string, count int32, last time.Time) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "team"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "team"},
		Type:           typ, Reason: reason, Message: msg, Count: count,
		FirstTimestamp: metav1.NewTime(last.Add(-time.Minute)), LastTimestamp: metav1.NewTime(last),
	}
}

// crashing is a pod whose container exits 1 and restarts (CrashLoopBackOff).
func crashing() corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name:                 "app",
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
			RestartCount:         4,
		}}},
	}
}

func healthy() corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "team"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "db", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}},
		}}},
	}
}

func newAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t,
		objects: map[string]runtime.Object{
			"/api/v1/namespaces/team/events": &corev1.EventList{Items: []corev1.Event{
				ev("b1", "Warning", "BackOff", "Back-off restarting failed container app", 3, t0.Add(2*time.Minute)),
				ev("s", "Normal", "Scheduled", "Successfully assigned team/web-1", 1, t0),
				ev("b2", "Warning", "BackOff", "Back-off restarting failed container app", 2, t0.Add(3*time.Minute)),
				ev("f", "Warning", "Failed", "token "+token+" refused", 1, t0.Add(time.Minute)),
			}},
			"/api/v1/namespaces/team/pods": &corev1.PodList{Items: []corev1.Pod{healthy(), crashing()}},
		},
		logs: map[string]string{
			"/api/v1/namespaces/team/pods/web-1/log":          "starting\nlogin with " + token + "\n",
			"/api/v1/namespaces/team/pods/web-1/log?previous": "starting\npanic: exit 1\n",
		},
	}
}

func mask() func(string) string {
	s := &secret.Set{}
	s.Add(token)
	return s.Mask
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

func TestCollect(t *testing.T) {
	api := newAPI(t)
	dir := filepath.Join(t.TempDir(), "run-1")
	s, err := Collect(context.Background(), Request{
		Clients:    api.clients(),
		Namespaces: []string{"team"},
		Objects:    []kube.ObjectRef{{Kind: "Deployment", Namespace: "team", Name: "web"}},
		Failed:     []Failed{{Task: "rollout", Namespace: "team", Manifests: []Manifest{{Name: "deploy.yaml", Text: "kind: Deployment\n# " + token + "\n"}}}},
		RunEvents:  []string{`{"type":"run.start"}`, `{"type":"task.end","error":"` + token + `"}`},
		Mask:       mask(),
		Dir:        dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	events := read(t, dir, "events.txt")
	lines := strings.Split(strings.TrimSpace(events), "\n")
	if len(lines) != 3 {
		t.Fatalf("events.txt has %d lines, want 3 (the two BackOff events merged):\n%s", len(lines), events)
	}
	for i, want := range []string{"Scheduled", "Failed", "BackOff"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("events.txt line %d is not %s (oldest first):\n%s", i+1, want, events)
		}
	}
	if !strings.Contains(lines[2], "(x5 since") {
		t.Errorf("the merged BackOff event does not count 5: %s", lines[2])
	}
	pods := read(t, dir, "pods.txt")
	for _, want := range []string{"pod team/web-1: Running", "container app: waiting: CrashLoopBackOff", "restarted 4 time(s)", "last ended: Error, exit code 1", "container db: running since"} {
		if !strings.Contains(pods, want) {
			t.Errorf("pods.txt lacks %q:\n%s", want, pods)
		}
	}
	if got := read(t, dir, "logs/team_web-1_app.previous.log"); !strings.Contains(got, "panic: exit 1") {
		t.Errorf("previous log: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs/team_db-0_db.log")); err == nil {
		t.Error("the log of a healthy container was kept")
	}
	if got := read(t, dir, "manifests/rollout.yaml"); !strings.Contains(got, "# deploy.yaml\nkind: Deployment") {
		t.Errorf("manifests: %q", got)
	}
	for _, f := range []string{"events.txt", "logs/team_web-1_app.log", "manifests/rollout.yaml", "run-events.jsonl"} {
		if got := read(t, dir, f); strings.Contains(got, token) || !strings.Contains(got, secret.Mask) {
			t.Errorf("%s does not mask the secret:\n%s", f, got)
		}
	}
	summary := strings.Join(s.Lines, "\n")
	for _, want := range []string{"(failed: rollout) in " + dir, "3 events (2 warnings) and 2 pods in namespace(s) team; 1 failing containers, 2 logs kept",
		"pod team/web-1 container app: waiting: CrashLoopBackOff", "latest warning: BackOff team/pod/web-1 (x5)"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if got := read(t, dir, "summary.txt"); !strings.Contains(got, summary) {
		t.Errorf("summary.txt is not the summary:\n%s", got)
	}
	for _, r := range api.requests {
		if strings.HasSuffix(r.URL.Path, "/log") {
			q := r.URL.Query()
			if q.Get("tailLines") != "200" || q.Get("limitBytes") != "262144" {
				t.Errorf("log request not bounded: %s", r.URL)
			}
		}
	}
}

// TestBounds checks the folder's total bound: what does not fit is cut
// and said in the summary.
func TestBounds(t *testing.T) {
	dir := t.TempDir()
	limits := DefaultLimits
	limits.Total = 600
	limits.RunEvents = 2
	var evs []string
	for i := range 100 {
		evs = append(evs, strings.Repeat("x", 30)+string(rune('a'+i%26)))
	}
	_, err := Collect(context.Background(), Request{Clients: newAPI(t).clients(), Namespaces: []string{"team"}, RunEvents: evs, Dir: dir, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir, "run-events.jsonl"); strings.Count(got, "\n") != 2 {
		t.Errorf("run-events.jsonl keeps more than the last 2 events:\n%s", got)
	}
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if !fi.IsDir() && fi.Name() != "summary.txt" {
			size += fi.Size()
		}
		return nil
	})
	if size > limits.Total+100 {
		t.Errorf("the folder holds %d bytes, bound %d", size, limits.Total)
	}
	if got := read(t, dir, "summary.txt"); !strings.Contains(got, "size bound") {
		t.Errorf("summary.txt does not say what the bound left out:\n%s", got)
	}
}

// TestBudget: a diagnosis out of time stops, writes what it has and says
// so; it still makes the folder.
func TestBudget(t *testing.T) {
	api := newAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	s, err := Collect(ctx, Request{Clients: api.clients(), Namespaces: []string{"team"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if api.count() != 0 {
		t.Errorf("%d requests after the budget ran out", api.count())
	}
	if got := read(t, dir, "summary.txt"); !strings.Contains(got, "collection stopped") {
		t.Errorf("summary.txt:\n%s", got)
	}
	if !strings.Contains(strings.Join(s.Lines, "\n"), "could not be collected") {
		t.Errorf("the printed summary does not say something is missing: %q", s.Lines)
	}
}
