//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// TestCopyIntoFreshPodsIsVerified: kbrun's copy into the first exec of
// fresh pods, where client-go's stdin may arrive short
// (TestMeasureFirstExecStdin), always ends with the files intact (sha256
// verified, retried when short).
func TestCopyIntoFreshPodsIsVerified(t *testing.T) {
	n := 6
	if s := os.Getenv("KBRUN_RACE_PODS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	f := filepath.Join(t.TempDir(), "payload")
	os.WriteFile(f, bytes.Repeat([]byte("payload-"), 32<<10), 0o644)
	retried := 0
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("cp-%d", i)
		pod(t, ns, name, sleeper("main", busybox))
		out := mustRun(t, env, "copy", 60*time.Second, map[string]any{"pod": name, "files": []any{map[string]any{"from": f, "to": "/tmp/payload"}}})
		if out["attempts"].(int) > 1 {
			retried++
		}
	}
	t.Logf("kbrun copy into %d fresh pods: all verified (sha256), %d needed a retry", n, retried)
}

func remoteSize(ctx context.Context, ns, pod, file string) (int, error) {
	req := clients.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"sh", "-c", "wc -c < " + file}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewWebSocketExecutor(clients.Config, http.MethodGet, req.URL().String())
	if err != nil {
		return 0, err
	}
	var out, stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &stderr}); err != nil {
		return 0, fmt.Errorf("%v (stderr %q)", err, stderr.String())
	}
	return strconv.Atoi(strings.TrimSpace(out.String()))
}

// TestExecStdinIntoRedirectIsComplete: kbrun's exec task runs commands with
// stdin under a shell that keeps stdout open and drains stdin, so stdin into
// `sh -c 'cat > FILE'`, which client-go may cut short
// (TestMeasureStdinLostWhenStdoutClosed), arrives whole every time.
func TestExecStdinIntoRedirectIsComplete(t *testing.T) {
	n := 20
	if s := os.Getenv("KBRUN_RACE_PODS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ns := namespace(t)
	p := pod(t, ns, "redirect", sleeper("main", busybox))
	payload := []byte("FROM scratch\nCOPY server/main /main\nENTRYPOINT [\"/main\"]\n")
	env := newEnv(t, ns, nil)
	env.Stdout, env.Stderr = io.Discard, io.Discard
	for i := 0; i < n; i++ {
		file := fmt.Sprintf("/tmp/kbrun-%d", i)
		stdin := string(payload)
		mustRun(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"sh", "-c", "cat > " + file}, "stdin": stdin})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := remoteSize(ctx, ns, p.Name, file)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got != len(payload) {
			t.Errorf("kbrun exec with stdin into `sh -c 'cat > %s'`: the file has %d of %d bytes", file, got, len(payload))
		}
	}
}
