package pod

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kbrun/kbrun/engine/task"
)

// The refusal a kubelet that restarted a moment ago gives an exec over
// WebSocket (fault matrix, kubelet SIGKILL at copy).
var kubeletUnsynced = &httpstream.UpgradeFailureError{Cause: errors.New("websocket: bad handshake (404 Not Found): pod does not exist")}

func TestKubeletRefused(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{kubeletUnsynced, true},
		{errors.New("unable to upgrade connection: container not found (\"kaniko\")"), true},
		{&httpstream.UpgradeFailureError{Cause: apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p")}, true},
		{&httpstream.UpgradeFailureError{Cause: apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New("no"))}, false},
		{&ExitError{Code: 1}, false},
		{errors.New("pod does not exist"), false}, // not an upgrade: the command's own output
		{nil, false},
	} {
		if got := kubeletRefused(c.err); got != c.want {
			t.Errorf("kubeletRefused(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestWaitForKubelet(t *testing.T) {
	alive := func(context.Context) bool { return true }
	gone := func(context.Context) bool { return false }
	t.Run("the exec runs once the kubelet knows the pod", func(t *testing.T) {
		runs, notices := 0, 0
		ctx := task.WithRetryNotice(context.Background(), func(int, error) { notices++ })
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := waitForKubelet(ctx, "pod ns/p (container c)", alive, func() error {
			runs++
			if runs < 3 {
				return kubeletUnsynced
			}
			return nil
		})
		if err != nil || runs != 3 || notices != 2 {
			t.Fatalf("err=%v runs=%d notices=%d, want nil, 3 runs, 2 notices", err, runs, notices)
		}
	})
	t.Run("a pod the API server does not hold alive is final", func(t *testing.T) {
		runs := 0
		err := waitForKubelet(context.Background(), "pod ns/p (container c)", gone, func() error { runs++; return kubeletUnsynced })
		if !errors.Is(err, kubeletUnsynced) || runs != 1 {
			t.Fatalf("err=%v runs=%d, want the refusal after 1 run", err, runs)
		}
	})
	t.Run("other errors are not repeated", func(t *testing.T) {
		runs := 0
		exit := &ExitError{Code: 2}
		err := waitForKubelet(context.Background(), "pod ns/p (container c)", alive, func() error { runs++; return exit })
		if !errors.Is(err, exit) || runs != 1 {
			t.Fatalf("err=%v runs=%d, want the exit error after 1 run", err, runs)
		}
	})
	t.Run("a kubelet that never comes back fails within the deadline, naming it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		runs := 0
		err := waitForKubelet(ctx, "pod ns/p (container c)", alive, func() error { runs++; return kubeletUnsynced })
		if err == nil || !strings.Contains(err.Error(), "the kubelet still refuses pod ns/p (container c)") || runs < 2 {
			t.Fatalf("err=%v runs=%d, want the kubelet named after more than one run", err, runs)
		}
		if ctx.Err() != nil {
			t.Fatalf("gave up only when the context ended; it must stop before: %v", fmt.Sprint(err))
		}
	})
}
