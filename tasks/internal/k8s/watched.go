package k8s

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kbrun/kbrun/engine/kube"
)

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
