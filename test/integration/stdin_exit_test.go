//go:build integration

package integration

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

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
			var ex remotecommand.Executor
			if protocol == "websocket" {
				ex, _ = remotecommand.NewWebSocketExecutor(clients.Config, http.MethodGet, req.URL().String())
			} else {
				ex, _ = remotecommand.NewSPDYExecutor(clients.Config, http.MethodPost, req.URL())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			done := make(chan error, 1)
			go func() {
				// Separate buffers: client-go writes stdout and stderr from
				// two goroutines.
				var out, errOut bytes.Buffer
				done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(make([]byte, 64<<20)), Stdout: &out, Stderr: &errOut})
			}()
			var err error
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
