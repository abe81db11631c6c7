//go:build integration

package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// bigFile writes size random bytes and returns the path and sha256.
func bigFile(b *testing.B, size int64) (string, string) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return p, hex.EncodeToString(h.Sum(nil))
}

func remoteSHA(b *testing.B, ns, pod, path string) string {
	b.Helper()
	env := newEnv(b, ns, nil)
	env.Stdout, env.Stderr = io.Discard, io.Discard
	out := mustRun(b, env, "exec", 120*time.Second, map[string]any{"pod": pod, "command": []any{"sha256sum", path}})
	return strings.Fields(out["stdout"].(string))[0]
}

// BenchmarkCopy256MiB compares kbrun's copy (tar stream over exec) with
// `kubectl cp` of the same file into the same pod, in the same run, in two
// like-for-like pairs: the transfer alone (kbrun-noverify vs kubectl-cp,
// checksums checked after the timing) and the transfer with sha256sum in the
// container inside the timing (kbrun, its default, vs kubectl-cp-sha256sum).
//
//	go test -tags integration ./test/integration/ -run '^$' -bench Copy256MiB -benchtime 3x
func BenchmarkCopy256MiB(b *testing.B) {
	const size = 256 << 20
	ns := namespace(b)
	src, sum := bigFile(b, size)
	p := pod(b, ns, "target", corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: busybox,
		Command:      []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}})
	env := newEnv(b, ns, nil)
	b.Run("kbrun", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			out := mustRun(b, env, "copy", 5*time.Minute, map[string]any{"pod": p.Name, "files": []any{map[string]any{"from": src, "to": "/data/kbrun.bin"}}})
			if out["bytes"].(int64) != size {
				b.Fatalf("bytes %v", out["bytes"])
			}
		}
		b.StopTimer()
		if got := remoteSHA(b, ns, p.Name, "/data/kbrun.bin"); got != sum {
			b.Fatalf("kbrun copy: sha256 %s, want %s", got, sum)
		}
	})
	// The transfer alone (verification off; the checksum is checked after
	// the timing, as for kubectl cp).
	b.Run("kbrun-noverify", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			mustRun(b, env, "copy", 5*time.Minute, map[string]any{"pod": p.Name, "verify": false, "files": []any{map[string]any{"from": src, "to": "/data/kbrun-nv.bin"}}})
		}
		b.StopTimer()
		if got := remoteSHA(b, ns, p.Name, "/data/kbrun-nv.bin"); got != sum {
			b.Fatalf("kbrun copy: sha256 %s, want %s", got, sum)
		}
	})
	b.Run("kubectl-cp", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "cp", src, ns+"/"+p.Name+":/data/kubectl.bin")
			cmd.Env = append(os.Environ(), "KUBECACHEDIR="+b.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl cp: %v: %s", err, out)
			}
		}
		b.StopTimer()
		if got := remoteSHA(b, ns, p.Name, "/data/kubectl.bin"); got != sum {
			b.Fatalf("kubectl cp: sha256 %s, want %s", got, sum)
		}
	})
	// kubectl cp followed by the check kbrun's default copy makes (sha256sum
	// in the container): the like-for-like partner of "kbrun".
	b.Run("kubectl-cp-sha256sum", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "cp", src, ns+"/"+p.Name+":/data/kubectl-v.bin")
			cmd.Env = append(os.Environ(), "KUBECACHEDIR="+b.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl cp: %v: %s", err, out)
			}
			cmd = exec.Command("kubectl", "--kubeconfig", kubeconfig, "exec", "-n", ns, p.Name, "--", "sha256sum", "/data/kubectl-v.bin")
			cmd.Env = append(os.Environ(), "KUBECACHEDIR="+b.TempDir())
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("kubectl exec sha256sum: %v", err)
			}
			if got := strings.Fields(string(out)); len(got) == 0 || got[0] != sum {
				b.Fatalf("kubectl cp: sha256 %q, want %s", out, sum)
			}
		}
	})
}

// watchAvailable records when an independent watch first sees the
// Deployment rolled out (as kubectl rollout status judges: observed
// generation, all updated replicas available).
func watchAvailable(ctx context.Context, ns, name string, seen chan<- time.Time) {
	w, err := clients.Typed.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return
		}
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			continue
		}
		if d.Generation <= d.Status.ObservedGeneration && d.Spec.Replicas != nil && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
			d.Status.Replicas == d.Status.UpdatedReplicas && d.Status.AvailableReplicas == d.Status.UpdatedReplicas {
			seen <- time.Now()
			return
		}
	}
}

// BenchmarkDeployReaction measures the time from the Deployment becoming
// available (seen by an independent watch in this process) to the deploy
// task returning. Reported as reaction-ms.
//
//	go test -tags integration ./test/integration/ -run '^$' -bench DeployReaction -benchtime 5x
func BenchmarkDeployReaction(b *testing.B) {
	ns := namespace(b)
	env := newEnv(b, ns, nil)
	var total time.Duration
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("r%d", i)
		ctx, cancel := context.WithCancel(context.Background())
		seen := make(chan time.Time, 1)
		go watchAvailable(ctx, ns, name, seen)
		time.Sleep(50 * time.Millisecond) // the watch is established
		manifest := strings.ReplaceAll(webManifest, "name: web}", "name: "+name+"}")
		manifest = strings.ReplaceAll(manifest, "app: web", "app: "+name)
		mustRun(b, env, "deploy", 90*time.Second, map[string]any{"manifest": manifest})
		done := time.Now()
		var at time.Time
		select {
		case at = <-seen:
		case <-time.After(5 * time.Second):
			b.Fatal("the independent watch never saw the rollout")
		}
		cancel()
		d := done.Sub(at)
		total += d
		if d > worst {
			worst = d
		}
		b.Logf("iteration %d: deploy returned %v after the Deployment became available", i, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "reaction-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// BenchmarkAssertLogsReaction measures the time from a log line being
// written (containerd's CRI timestamp of the line, same host clock) to the
// assertLogs task returning. Reported as reaction-ms.
//
//	go test -tags integration ./test/integration/ -run '^$' -bench AssertLogsReaction -benchtime 5x
func BenchmarkAssertLogsReaction(b *testing.B) {
	ns := namespace(b)
	env := newEnv(b, ns, nil)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("l%d", i)
		marker := fmt.Sprintf("TARGET-LINE-%d", i)
		p := pod(b, ns, name, corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: busybox,
			Command: []string{"sh", "-c", "echo starting; sleep 2; echo " + marker + "; trap 'exit 0' TERM; while true; do sleep 1; done"}}}})
		mustRun(b, env, "assertLogs", 30*time.Second, map[string]any{"pod": p.Name, "contains": []any{marker}})
		done := time.Now()
		written := lineTime(b, ns, p.Name, marker)
		d := done.Sub(written)
		total += d
		if d > worst {
			worst = d
		}
		b.Logf("iteration %d: assertLogs returned %v after the line was written", i, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "reaction-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// lineTime is the CRI timestamp of the first log line containing marker.
func lineTime(b *testing.B, ns, pod, marker string) time.Time {
	rc, err := clients.Typed.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Timestamps: true}).Stream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		ts, text, _ := strings.Cut(sc.Text(), " ")
		if strings.Contains(text, marker) {
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				b.Fatal(err)
			}
			return t
		}
	}
	b.Fatalf("line %q not in the log", marker)
	return time.Time{}
}

var _ sync.Mutex

// BenchmarkAssertReaction measures the time from the change that makes an
// object match (just before the update is sent) to the assert task
// returning. The update is sent once the task says it is watching, so the
// figure is the watch's reaction, not a first read's. Reported as
// reaction-ms.
//
//	go test -tags integration ./test/integration/ -run '^$' -bench AssertReaction -benchtime 5x
func BenchmarkAssertReaction(b *testing.B) {
	ns := namespace(b)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("a%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cms := clients.Typed.CoreV1().ConfigMaps(ns)
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"state": "pending"}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		env := newEnv(b, ns, nil)
		watching := make(chan struct{})
		var once sync.Once
		logf := env.Logf
		env.Logf = func(f string, a ...any) {
			if strings.HasPrefix(f, "watching until they match") {
				once.Do(func() { close(watching) })
			}
			logf(f, a...)
		}
		type ended struct {
			at  time.Time
			err error
		}
		done := make(chan ended, 1)
		go func() {
			_, err := run(b, env, "assert", 30*time.Second, map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {state: ready}\n"})
			done <- ended{time.Now(), err}
		}()
		select {
		case <-watching:
		case e := <-done:
			b.Fatalf("assert ended before it watched: %v", e.err)
		}
		changed := time.Now()
		if _, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"state": "ready"}}, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		e := <-done
		cancel()
		if e.err != nil {
			b.Fatalf("assert: %v", e.err)
		}
		d := e.at.Sub(changed)
		total += d
		worst = max(worst, d)
		b.Logf("iteration %d: assert returned %v after the change was sent", i, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "reaction-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
