package pod

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// kubeletRefused reports whether an exec's upgrade was refused because the
// answering side did not know the pod or the container (a 404: the
// kubelet's "pod does not exist", "container not found", or the API
// server's NotFound). The command never started.
func kubeletRefused(err error) bool {
	if err == nil {
		return false
	}
	var up *httpstream.UpgradeFailureError
	if errors.As(err, &up) && up.Cause != nil && apierrors.IsNotFound(up.Cause) {
		return true
	}
	msg := err.Error()
	refused := strings.Contains(msg, "unable to upgrade") || strings.Contains(msg, "bad handshake")
	return refused && (strings.Contains(msg, "404") || strings.Contains(msg, "pod does not exist") || strings.Contains(msg, "container not found"))
}

// podAlive reports whether the API server holds the exec's pod running
// (or starting) with the container, not being deleted: then a refusal by
// the kubelet is the kubelet's, not the pod's.
type podAlive func(ctx context.Context) bool

// waitForKubelet runs run again while its exec is refused for a pod the
// kubelet does not know but the API server holds alive: a kubelet that
// restarted answers so until it has synced its pods again, which takes a
// few seconds. It waits with backoff until ctx's deadline (or
// kube.DefaultBound), as requests wait for an API server that restarts.
// The upgrade was refused, so the command did not start and its stdin was
// not read: running it again is safe.
func waitForKubelet(ctx context.Context, what string, alive podAlive, run func() error) error {
	start := time.Now()
	err := run()
	for n := 1; kubeletRefused(err) && alive(ctx); n++ {
		wait := kube.Wait(n)
		if time.Now().Add(wait).After(kube.Until(ctx, start)) {
			return fmt.Errorf("the kubelet still refuses %s after %s although the API server has the pod running (the kubelet restarting or its node unhealthy): %w", what, time.Since(start).Round(time.Second), err)
		}
		task.NoticeRetry(ctx, n, fmt.Errorf("the kubelet does not know %s yet although the API server has it running (restarting?): %w", what, err))
		if kube.Sleep(ctx, wait) != nil {
			return err
		}
		err = run()
	}
	return err
}

// podAliveIn asks the API server whether pod holds container and is
// neither finished nor being deleted.
func (e *ClientExecutor) podAliveIn(namespace, pod, container string) podAlive {
	return func(ctx context.Context) bool {
		var p *corev1.Pod
		err := apicall.Idempotent(ctx, func() (err error) {
			p, err = e.Clients.Typed.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
			return apicall.Classify(err, "get", "pod "+namespace+"/"+pod)
		})
		if err != nil || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false
		}
		for _, c := range p.Spec.Containers {
			if c.Name == container {
				return true
			}
		}
		return false
	}
}
