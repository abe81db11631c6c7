package k8s

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kbrun/kbrun/engine/kube"
)

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// ResolveWatchedPod is ResolvePod for the run's tasks: a pod named by an
// earlier task (the builder a deploy rolled out) is read from the watch
// that task kept (kube.Watches), as current as a GET, without one; a pod
// no kept watch has, or has in a state the task cannot use, is asked for.
func ResolveWatchedPod(ctx context.Context, c *kube.Clients, ns string, t Target, opts ResolveOptions) (*corev1.Pod, error) {
	if t.Pod != "" {
		if o, seen, _ := c.Watches.Get(podsGVR, ns, t.Pod); seen {
			req := opts.Require
			if req == RunningReady {
				req = running
			}
			if p, ok := o.(*corev1.Pod); ok && ineligible(p, req) == "" {
				return p.DeepCopy(), nil
			}
		}
	}
	return ResolvePod(ctx, c.Typed, ns, t, opts)
}

// GetWatched reads an object from a watch the run kept on it (a workload a
// deploy task rolled out), else from the API server; fresh always asks
// the API server (after a conflict the watch may not have seen the
// change yet).
func GetWatched(ctx context.Context, c *kube.Clients, ri dynamic.ResourceInterface, gvr schema.GroupVersionResource, ns, name string, fresh bool) (*unstructured.Unstructured, error) {
	if !fresh {
		o, seen, gone := c.Watches.Get(gvr, ns, name)
		if u, ok := o.(*unstructured.Unstructured); seen && ok {
			return u.DeepCopy(), nil
		}
		if gone {
			return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
		}
	}
	return ri.Get(ctx, name, metav1.GetOptions{})
}
