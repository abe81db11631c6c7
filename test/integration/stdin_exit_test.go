//go:build integration

package integration

import (
	"bytes"
	"context"
	"net/http"
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
		req := clients.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("x").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Command: []string{"sh", "-c", "exit 4"}, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		var ex remotecommand.Executor
		if protocol == "websocket" {
			ex, _ = remotecommand.NewWebSocketExecutor(clients.Config, http.MethodGet, req.URL().String())
		} else {
			ex, _ = remotecommand.NewSPDYExecutor(clients.Config, http.MethodPost, req.URL())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		var out bytes.Buffer
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(make([]byte, 64<<20)), Stdout: &out, Stderr: &out})
		cancel()
		t.Logf("RESULT %s: exit without reading 64 MiB of stdin: returned after %v with %v", protocol, time.Since(start).Round(time.Millisecond), err)
	}
}
