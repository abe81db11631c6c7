//go:build integration && measure

package integration

// Measurements of client-go's exec streams (not kbrun's code, and races, so
// counted rather than asserted): make measure-exec runs them, BENCHMARKS.md
// has the figures and what kbrun does about each. kbrun's own behaviour in
// the same situations is asserted in race_test.go and tasks_test.go.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// executor is client-go's executor for protocol ("websocket" or "spdy").
func executor(protocol string, req *rest.Request) (remotecommand.Executor, error) {
	if protocol == "websocket" {
		return remotecommand.NewWebSocketExecutor(clients.Config, http.MethodGet, req.URL().String())
	}
	return remotecommand.NewSPDYExecutor(clients.Config, http.MethodPost, req.URL())
}

// firstExecStdin runs `wc -c` as the first exec into a pod, with size bytes
// on stdin, over one protocol, and returns what arrived.
func firstExecStdin(ctx context.Context, ns, pod, protocol string, size int) (int, error) {
	req := clients.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"wc", "-c"}, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	if protocol == "kubectl" {
		cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "exec", "-i", "-n", ns, pod, "--", "wc", "-c")
		cmd.Env = append(os.Environ(), "KUBECACHEDIR="+os.TempDir()+"/kbrun-it-kubecache")
		cmd.Stdin = bytes.NewReader(bytes.Repeat([]byte("k"), size))
		out, err := cmd.Output()
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(out)))
	}
	ex, err := executor(protocol, req)
	if err != nil {
		return 0, err
	}
	var out, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(bytes.Repeat([]byte("k"), size)), Stdout: &out, Stderr: &stderr})
	if err != nil {
		return 0, fmt.Errorf("%v (stderr %q)", err, stderr.String())
	}
	return strconv.Atoi(strings.TrimSpace(out.String()))
}

// TestMeasureFirstExecStdin counts how often stdin piped into the FIRST
// exec of a fresh pod arrives empty or short with client-go's executors and
// kubectl (kubectl 1.32 over WebSocket lost it 2 times in 9 here). It is a
// race in code kbrun does not own, so it is measured, not asserted: kbrun's
// copy verifies and retries (TestCopyIntoFreshPodsIsVerified).
func TestMeasureFirstExecStdin(t *testing.T) {
	n := 12
	if s := os.Getenv("KBRUN_RACE_PODS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ns := namespace(t)
	const size = 256 << 10
	for _, protocol := range []string{"websocket", "spdy", "kubectl"} {
		short := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				name := fmt.Sprintf("%s-%d", protocol[:3], i)
				pod(t, ns, name, sleeper("main", busybox))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				got, err := firstExecStdin(ctx, ns, name, protocol, size)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Logf("%s pod %s: exec error %v", protocol, name, err)
					short++
					return
				}
				if got != size {
					t.Logf("%s pod %s: first exec got %d of %d stdin bytes", protocol, name, got, size)
					short++
				}
			}(i)
		}
		wg.Wait()
		t.Logf("RESULT stdin race, %s: %d of %d first execs into fresh pods lost stdin", map[string]string{"websocket": "client-go WebSocket executor", "spdy": "client-go SPDY executor", "kubectl": "kubectl exec -i (" + kubectlVersion() + ")"}[protocol], short, n)
	}
}

func kubectlVersion() string {
	out, _ := exec.Command("kubectl", "version", "--client").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(strings.TrimPrefix(line, "Client Version:"))
}

// stdinIntoRedirect runs `sh -c 'cat > FILE'` with payload on stdin over one
// client-go protocol and returns how many bytes FILE got. sh execs cat, whose
// stdout is the file: no process holds the exec's stdout any more.
func stdinIntoRedirect(ctx context.Context, ns, pod, protocol, file string, payload []byte) (int, error) {
	req := clients.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"sh", "-c", "cat > " + file}, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := executor(protocol, req)
	if err != nil {
		return 0, err
	}
	var out, stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(payload), Stdout: &out, Stderr: &stderr}); err != nil {
		return 0, fmt.Errorf("%v (stderr %q)", err, stderr.String())
	}
	return remoteSize(ctx, ns, pod, file)
}

// TestMeasureStdinLostWhenStdoutClosed is the cause found for the notes'
// "stdin arrived empty" (a Dockerfile piped into `sh -c 'cat > Dockerfile'`):
// when the remote command no longer holds the exec's stdout, the stream may
// end before stdin has been delivered, and the exec still reports success.
// A race in client-go, so counted, not asserted; kbrun's exec task must
// deliver every byte every time (TestExecStdinIntoRedirectIsComplete).
func TestMeasureStdinLostWhenStdoutClosed(t *testing.T) {
	n := 20
	if s := os.Getenv("KBRUN_RACE_PODS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ns := namespace(t)
	p := pod(t, ns, "redirect", sleeper("main", busybox))
	payload := []byte("FROM scratch\nCOPY server/main /main\nENTRYPOINT [\"/main\"]\n")
	for _, protocol := range []string{"websocket", "spdy"} {
		short := 0
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			file := fmt.Sprintf("/tmp/%s-%d", protocol, i)
			got, err := stdinIntoRedirect(ctx, ns, p.Name, protocol, file, payload)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", protocol, err)
			}
			if got != len(payload) {
				short++
			}
		}
		t.Logf("RESULT client-go %s executor, stdin into `sh -c 'cat > FILE'`: %d of %d files short, every exec reported success", protocol, short, n)
	}
}

// TestClientGoStdinNotReadProtocols shows how client-go's executors behave
// when the remote command exits without reading a large stdin.
func TestClientGoStdinNotReadProtocols(t *testing.T) {
	ns := namespace(t)
	pod(t, ns, "x", sleeper("main", busybox))
	for _, protocol := range []string{"websocket", "spdy"} {
		hangs, wrong, n := 0, 0, 6
		for i := 0; i < n; i++ {
			req := clients.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("x").SubResource("exec").
				VersionedParams(&corev1.PodExecOptions{Command: []string{"sh", "-c", "exit 4"}, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
			ex, err := executor(protocol, req)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			done := make(chan error, 1)
			go func() {
				// Separate buffers: client-go writes stdout and stderr from
				// two goroutines.
				var out, errOut bytes.Buffer
				done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(make([]byte, 64<<20)), Stdout: &out, Stderr: &errOut})
			}()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second): // SPDY was seen ignoring the context here
				err = context.DeadlineExceeded
			}
			switch {
			case ctx.Err() != nil:
				hangs++
			case err == nil || !strings.Contains(err.Error(), "exit code 4"):
				wrong++
				t.Logf("%s: got %v instead of exit code 4", protocol, err)
			}
			cancel()
		}
		t.Logf("RESULT %s executor, command exits without reading 64 MiB of stdin: %d of %d hung until the deadline, %d of %d reported a wrong exit status", protocol, hangs, n, wrong, n)
	}
}
