//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestStarterTime runs what a newcomer runs first, kbrun init then kbrun
// run, and logs how long the run took against the sum of its tasks' own
// durations, for BENCHMARKS.md (no timed assertion: the cluster's speed
// varies). What it asserts is why the starter is fast: the web server's
// container ends on SIGTERM with exit code 0, not after its grace period
// with SIGKILL (137), and the run leaves nothing behind.
func TestStarterTime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Starter Time") // the name kbrun derives: starter-time
	const ns = "starter-time"
	if r := kbrun(t, "init", dir); r.code != 0 {
		t.Fatalf("init: exit %d\n%s", r.code, r.stderr)
	}

	// Watch the server's pods from before the run (a namespace that does
	// not exist yet can be watched): their last state tells how the
	// container ended and how long its deletion took.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatalf("watch pods in %s: %v", ns, err)
	}
	type ending struct {
		exitCode   *int32
		reason     string
		deleteWait time.Duration // deletionTimestamp set to the pod gone
	}
	var mu sync.Mutex
	endings := map[string]*ending{}
	deleting := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			e := endings[pod.Name]
			if e == nil {
				e = &ending{}
				endings[pod.Name] = e
			}
			for _, cs := range pod.Status.ContainerStatuses {
				if cs.Name == "web" && cs.State.Terminated != nil {
					code := cs.State.Terminated.ExitCode
					e.exitCode, e.reason = &code, cs.State.Terminated.Reason
				}
			}
			if pod.DeletionTimestamp != nil && deleting[pod.Name].IsZero() {
				deleting[pod.Name] = time.Now()
			}
			if ev.Type == watch.Deleted && !deleting[pod.Name].IsZero() {
				e.deleteWait = time.Since(deleting[pod.Name])
			}
			mu.Unlock()
		}
	}()

	r := kbrun(t, "run", filepath.Join(dir, "pipeline.yaml"), "-o", "json", "--set", "image=kbrun.local/busybox:1.35")
	w.Stop()
	<-done
	ok(t, r, "namespace", "web", "answers")
	namespaceGone(t, ns)

	var sum time.Duration
	var lines []string
	for _, name := range []string{"namespace", "web", "answers", "cleanup"} {
		d := time.Duration(r.ends[name].Duration) * time.Millisecond
		sum += d
		lines = append(lines, fmt.Sprintf("%s %s", name, d))
	}
	var runMS int64
	for _, e := range r.events {
		if e.Type == "run.end" {
			runMS = e.Duration
		}
	}
	t.Logf("starter: process %s, run.end %s, tasks %s (%s); kbrun's own share %s",
		r.duration.Round(10*time.Millisecond), time.Duration(runMS)*time.Millisecond,
		sum, strings.Join(lines, ", "), (r.duration - sum).Round(10*time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	if len(endings) == 0 {
		t.Fatalf("saw no pod labelled app=web in %s", ns)
	}
	for name, e := range endings {
		t.Logf("pod %s: deletion took %s (deletionTimestamp seen to pod gone)", name, e.deleteWait.Round(10*time.Millisecond))
		switch {
		case e.exitCode == nil:
			t.Errorf("pod %s: its container web was never seen terminated", name)
		case *e.exitCode != 0:
			t.Errorf("pod %s: container web ended with exit code %d (%s), want 0: the server did not stop on SIGTERM", name, *e.exitCode, e.reason)
		}
	}
}
