// Package apicall is what every request to the API server goes through:
// its error classified in kbrun's terms (retryable or not, and why), and an
// idempotent request repeated while the fault passes.
package apicall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kbrun/kbrun/engine/task"
)

// Classify turns an error from the API server (or the way to it) into
// kbrun's terms: transient problems (429, 5xx, API timeouts, refused or reset
// connections, conflicts) are marked task.Retryable; everything else (4xx
// validation, forbidden, not found, bad params) stays fatal. verb and what
// name the operation, e.g. "patch", "deployments.apps ones/builder"; they
// prefix the message. A nil err stays nil.
func Classify(err error, verb, what string) error {
	if err == nil {
		return nil
	}
	if task.IsRetryable(err) {
		return err
	}
	prefix := verb
	if what != "" {
		prefix += " " + what
	}
	// A refused exec upgrade carries the API server's Status in Cause.
	status := err
	var up *httpstream.UpgradeFailureError
	if errors.As(err, &up) && up.Cause != nil {
		status = up.Cause
	}
	if ns, ok := terminatingNamespace(status); ok {
		return fmt.Errorf("cannot %s: namespace %s is being deleted (terminating), and the API server admits nothing new into it until it is gone (not a missing right): %w", prefix, ns, err)
	}
	if apierrors.IsForbidden(status) {
		return fmt.Errorf("forbidden: kbrun's user may not %s: %w", prefix, err)
	}
	if apierrors.IsUnauthorized(status) {
		return fmt.Errorf("unauthorized to %s (check the kubeconfig's credentials): %w", prefix, err)
	}
	wrapped := fmt.Errorf("%s: %w", prefix, err)
	if IsTransient(err) {
		return task.Retryable(wrapped)
	}
	return wrapped
}

// IsTransient reports whether err is worth retrying: API throttling, server
// errors, timeouts, conflicts, and refused/reset/dropped connections.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if task.IsRetryable(err) {
		return true
	}
	// A task's own deadline or cancellation is never retried here: the engine
	// decides what an expired task means.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A refused exec/attach upgrade carries the API server's answer (e.g. a
	// 503 Status) in Cause, which it does not unwrap.
	var up *httpstream.UpgradeFailureError
	if errors.As(err, &up) && up.Cause != nil && IsTransient(up.Cause) {
		return true
	}
	switch {
	case apierrors.IsTooManyRequests(err),
		apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err),
		apierrors.IsInternalError(err),
		apierrors.IsServiceUnavailable(err),
		apierrors.IsUnexpectedServerError(err),
		apierrors.IsConflict(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 429 || code >= 500
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "broken pipe", "i/o timeout", "TLS handshake timeout", "http2: client connection lost", "http2: client connection force closed", "use of closed network connection",
		// A WebSocket stream (exec, attach) whose connection dropped without a close frame: the kubelet or the API server went away.
		"websocket: close 1006"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	// An HTTP/2 stream reset by the server or a proxy in front of it
	// (RST_STREAM INTERNAL_ERROR or REFUSED_STREAM): that request failed,
	// the connection lives on.
	if strings.Contains(msg, "stream error: stream ID") && (strings.Contains(msg, "INTERNAL_ERROR") || strings.Contains(msg, "REFUSED_STREAM")) {
		return true
	}
	return false
}

// terminatingNamespace tells the NamespaceLifecycle admission's refusal
// ("unable to create new content in namespace X because it is being
// terminated") from missing rights: both are 403 Forbidden.
func terminatingNamespace(err error) (string, bool) {
	if !apierrors.IsForbidden(err) {
		return "", false
	}
	msg := err.Error()
	const pre, post = "unable to create new content in namespace ", " because it is being terminated"
	i := strings.Index(msg, pre)
	j := strings.Index(msg, post)
	if i < 0 || j < i {
		return "", false
	}
	return msg[i+len(pre) : j], true
}
