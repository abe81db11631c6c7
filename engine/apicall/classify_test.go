package apicall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kbrun/kbrun/engine/task"
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	cases := []struct {
		err       error
		retryable bool
		contains  string
	}{
		{apierrors.NewTooManyRequests("slow down", 1), true, ""},
		{apierrors.NewInternalError(errors.New("boom")), true, ""},
		{apierrors.NewServiceUnavailable("x"), true, ""},
		{apierrors.NewTimeoutError("x", 1), true, ""},
		{apierrors.NewConflict(gr, "b", errors.New("x")), true, ""},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true, ""},
		{errors.New("read tcp: connection reset by peer"), true, ""},
		// What the exec stream said when the kubelet was killed during a build (measured).
		{errors.New("error reading from error stream: next reader: websocket: close 1006 (abnormal closure): unexpected EOF"), true, ""},
		{apierrors.NewForbidden(gr, "b", errors.New("no")), false, "forbidden: kbrun's user may not patch deployments.apps ones/b"},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "b", nil), false, ""},
		{apierrors.NewBadRequest("x"), false, ""},
		{apierrors.NewNotFound(gr, "b"), false, ""},
		{context.DeadlineExceeded, false, ""},
		// NamespaceLifecycle's refusal is a 403 too, but not about rights.
		{apierrors.NewForbidden(gr, "b", errors.New("unable to create new content in namespace ones because it is being terminated")), false,
			"cannot patch deployments.apps ones/b: namespace ones is being deleted (terminating), and the API server admits nothing new into it until it is gone (not a missing right)"},
	}
	for _, c := range cases {
		err := Classify(c.err, "patch", "deployments.apps ones/b")
		if task.IsRetryable(err) != c.retryable {
			t.Errorf("%v: retryable = %v", c.err, !c.retryable)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%v: not wrapped", c.err)
		}
		if c.contains != "" && !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%v: message %q", c.err, err)
		}
	}
}
