package pod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/proc"
)

// ExecRequest is one command in a container.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	// Stdin, when non-nil, is streamed to the command and closed at its end.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.Code)
}

// ExitCode returns the exit code in err: 0 for nil, the code of an
// ExitError, -1 for any other error (the command's fate is unknown).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

// RemoteExecutor runs commands in containers. It is the seam exec-based
// code goes through, so unit tests can stub it (as kubectl's cp and exec do).
// Execute returns nil for exit code 0, an *ExitError for another exit code,
// and any other error when the command could not be run or its stream broke.
// Ending ctx stops the stream.
type RemoteExecutor interface {
	Execute(ctx context.Context, req ExecRequest) error
}

// Protocol selects the streaming protocol of the client-go executor.
type Protocol int

const (
	// Fallback tries WebSocket first and falls back to SPDY when the server
	// cannot upgrade (kubectl's behaviour).
	Fallback Protocol = iota
	// WebSocketOnly uses only the WebSocket (v5) protocol.
	WebSocketOnly
	// SPDYOnly uses only SPDY.
	SPDYOnly
	// SPDYFirst tries SPDY first and falls back to WebSocket when the SPDY
	// upgrade is refused. For bulk stdin: on a v1.37 cluster the API server
	// tunnels SPDY bytes as they are, while WebSocket streams are translated
	// to SPDY by the kubelet, at a multiple of its CPU (BENCHMARKS.md, "What
	// made the copy fast").
	SPDYFirst
)

// ClientExecutor is the RemoteExecutor over the run's clients: the pods/exec
// subresource through client-go's remotecommand.
type ClientExecutor struct {
	Clients  *kube.Clients
	Protocol Protocol
}

// NewExecutor returns the default executor (WebSocket, falling back to SPDY).
func NewExecutor(c *kube.Clients) RemoteExecutor { return &ClientExecutor{Clients: c} }

// Execute implements RemoteExecutor.
func (e *ClientExecutor) Execute(ctx context.Context, r ExecRequest) error {
	req := e.Clients.Typed.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(r.Namespace).Name(r.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: r.Container,
			Command:   r.Command,
			Stdin:     r.Stdin != nil,
			Stdout:    r.Stdout != nil,
			Stderr:    r.Stderr != nil,
		}, scheme.ParameterCodec)
	ex, err := e.executor(req)
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", r.Namespace, r.Pod, err)
	}
	stream := func() error {
		return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr})
	}
	if r.Stdin == nil {
		// When the stream was never set up (both upgrades refused, the
		// connection dropped before it), the command did not start: trying
		// again is safe even for a task that must not run twice. With stdin
		// it is not (the reader may be spent); callers retry those.
		once := stream
		stream = func() error {
			return apicall.Idempotent(ctx, func() error {
				err := once()
				if err != nil && neverStarted(err) {
					return task.Retryable(kube.NotStarted(err))
				}
				return err
			})
		}
	}
	what := fmt.Sprintf("pod %s/%s (container %s)", r.Namespace, r.Pod, r.Container)
	err = waitForKubelet(ctx, what, e.podAliveIn(r.Namespace, r.Pod, r.Container), stream)
	if err == nil {
		return nil
	}
	var ce utilexec.ExitError
	if errors.As(err, &ce) && ce.Exited() {
		return &ExitError{Code: ce.ExitStatus()}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("exec %s in %s/%s: %w (stream stopped)", r.Command[0], r.Namespace, r.Pod, ctx.Err())
	}
	return apicall.Classify(err, "exec "+proc.Quote(r.Command)+" in", r.Namespace+"/"+r.Pod+":"+r.Container)
}

// executor builds the client-go executor: WebSocket first, SPDY when the
// server cannot upgrade, as kubectl does. Measured here (client-go v0.37.2,
// cluster v1.37.2, TestClientGoStdinNotReadProtocols, 6 tries each, four
// rounds, BENCHMARKS.md): when the remote command exits without reading all
// of its stdin, either executor may hang until the context ends (0-4 of 6),
// WebSocket may report a broken stream and SPDY exit code 0 for a failed
// command (0-2 of 6). A wrong success is worse than a wait, so WebSocket stays first for
// exec, and callers that stream stdin make the remote side drain it (see the
// exec and copy tasks); copy goes SPDY first for speed and verifies.
func (e *ClientExecutor) executor(req *rest.Request) (remotecommand.Executor, error) {
	cfg := e.Clients.Config
	u := req.URL()
	spdy := func() (remotecommand.Executor, error) { return remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u) }
	ws := func() (remotecommand.Executor, error) {
		return remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	}
	switch e.Protocol {
	case SPDYOnly:
		return spdy()
	case WebSocketOnly:
		return ws()
	}
	s, err := spdy()
	if err != nil {
		return nil, err
	}
	w, err := ws()
	if err != nil {
		return nil, err
	}
	if e.Protocol == SPDYFirst {
		// A refused SPDY upgrade goes on to WebSocket (a server or proxy
		// without SPDY), except for lack of rights: SPDY's answer names the
		// missing verb ("cannot create resource pods/exec"), while the
		// WebSocket refusal that would replace it can carry no reason at
		// all (measured on v1.37 with get but not create).
		return remotecommand.NewFallbackExecutor(s, w, spdyRefused)
	}
	fallback := func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}
	return remotecommand.NewFallbackExecutor(w, s, fallback)
}

// spdyRefused reports whether err is the SPDY client's untyped "unable to
// upgrade connection: ..." (the command never started) for another reason
// than missing rights.
func spdyRefused(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unable to upgrade connection") && !strings.Contains(msg, "forbidden") && !strings.Contains(msg, "unauthorized")
}

// neverStarted reports whether an exec error happened before the remote
// command could start, for a reason that may pass: a failed dial, or an
// upgrade refused with a transient answer (WebSocket's typed error carries
// the Status; SPDY only says "unable to upgrade connection: <message>").
// A refusal for lack of rights is final and never repeated.
func neverStarted(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var up *httpstream.UpgradeFailureError
	if errors.As(err, &up) {
		return up.Cause != nil && apicall.IsTransient(up.Cause)
	}
	msg := strings.ToLower(err.Error())
	// SPDY's "error sending request: ..." is a request that got no answer:
	// the client never had the upgraded connection, and the runtime runs the
	// command only once the client has opened its streams on it
	// (cri-streaming's ServeExec), so the command did not start.
	refused := strings.Contains(msg, "unable to upgrade connection") || strings.Contains(msg, "error sending request:")
	if !refused || strings.Contains(msg, "forbidden") || strings.Contains(msg, "unauthorized") {
		return false
	}
	for _, s := range []string{"unavailable", "too many requests", "internal server error", "timeout", "connection reset", "connection refused", "broken pipe", "eof", "try again"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// IsNotFoundInContainer reports whether an exec failed because the program
// does not exist in the container (runc's "executable file not found", or
// the shell's 126/127).
func IsNotFoundInContainer(err error) bool {
	if err == nil {
		return false
	}
	if c := ExitCode(err); c == 126 || c == 127 {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") && strings.Contains(msg, "exec")
}
