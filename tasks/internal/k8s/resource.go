package k8s

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
)

// Resource is a kind the user named, resolved through discovery.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// ResolveKind resolves what a user types after kubectl get: "deployment",
// "deploy", "Deployment", "deployments.apps", "deployments.v1.apps",
// "apps/v1/Deployment"... through the run's (shortcut-expanding) RESTMapper.
func ResolveKind(c *kube.Clients, kind string) (Resource, error) {
	kind = strings.TrimSpace(kind)
	if kind == "" {
		return Resource{}, fmt.Errorf("empty kind")
	}
	try := func() (Resource, error) {
		var gvr schema.GroupVersionResource
		if strings.Count(kind, "/") >= 1 {
			// apiVersion/Kind, e.g. apps/v1/Deployment or v1/Pod
			i := strings.LastIndex(kind, "/")
			gv, err := schema.ParseGroupVersion(kind[:i])
			if err != nil {
				return Resource{}, err
			}
			m, err := c.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind[i+1:]}, gv.Version)
			if err != nil {
				return Resource{}, err
			}
			return Resource{GVR: m.Resource, Kind: m.GroupVersionKind.Kind, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
		}
		full, gr := schema.ParseResourceArg(strings.ToLower(kind))
		if full != nil {
			if g, err := c.Mapper.ResourceFor(*full); err == nil {
				gvr = g
			}
		}
		if gvr.Empty() {
			g, err := c.Mapper.ResourceFor(gr.WithVersion(""))
			if err != nil {
				return Resource{}, err
			}
			gvr = g
		}
		gvk, err := c.Mapper.KindFor(gvr)
		if err != nil {
			return Resource{}, err
		}
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return Resource{}, err
		}
		return Resource{GVR: m.Resource, Kind: gvk.Kind, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
	}
	r, err := try()
	if err != nil && meta.IsNoMatchError(err) {
		meta.MaybeResetRESTMapper(c.Mapper)
		if c.Discovery != nil {
			c.Discovery.Invalidate()
		}
		r, err = try()
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return Resource{}, fmt.Errorf("the cluster has no resource type %q", kind)
		}
		return Resource{}, apicall.Classify(err, "discover", kind)
	}
	return r, nil
}

// ResourceClient returns the dynamic client for r in ns (ignored for
// cluster-scoped resources).
func ResourceClient(c *kube.Clients, r Resource, ns string) dynamic.ResourceInterface {
	if r.Namespaced {
		return c.Dynamic.Resource(r.GVR).Namespace(ns)
	}
	return c.Dynamic.Resource(r.GVR)
}

// Scoped is ri in namespace ns, or ri itself for cluster-scoped objects
// (ns empty).
func Scoped(ri dynamic.NamespaceableResourceInterface, ns string) dynamic.ResourceInterface {
	if ns != "" {
		return ri.Namespace(ns)
	}
	return ri
}

// GetIfExists reads one object, repeating the GET on transient errors; an
// object that is not there is (nil, nil).
func GetIfExists(ctx context.Context, ri dynamic.ResourceInterface, name string) (*unstructured.Unstructured, error) {
	var obj *unstructured.Unstructured
	err := apicall.Idempotent(ctx, func() (err error) {
		obj, err = ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj = nil
			return nil
		}
		return err
	})
	return obj, err
}

// Lister is one resource's client, typed (a PodInterface, whose List gives
// a *PodList) or dynamic (a *UnstructuredList).
type Lister[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// ListWatch builds a ListerWatcher over ri with fixed field and label
// selectors, for watchtools.UntilWithSync and informers.
func ListWatch[L runtime.Object](ri Lister[L], fieldSelector, labelSelector string) cache.ListerWatcher {
	return ListWatchNoting(ri, fieldSelector, labelSelector, nil)
}

// ListWatchNoting is ListWatch that tells note (when not nil) how the API
// server answered each list and watch request.
func ListWatchNoting[L runtime.Object](ri Lister[L], fieldSelector, labelSelector string, note func(ctx context.Context, err error)) cache.ListerWatcher {
	set := func(o *metav1.ListOptions) {
		if fieldSelector != "" {
			o.FieldSelector = fieldSelector
		}
		if labelSelector != "" {
			o.LabelSelector = labelSelector
		}
	}
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			set(&o)
			l, err := ri.List(ctx, o)
			if note != nil {
				note(ctx, err)
			}
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			set(&o)
			wi, err := ri.Watch(ctx, o)
			if note != nil {
				note(ctx, err)
			}
			return wi, err
		},
	}, ri)
}

// Mapping resolves an object's kind to its resource, resetting the cached
// discovery once when the kind is unknown (e.g. a CRD just established).
func Mapping(c *kube.Clients, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		meta.MaybeResetRESTMapper(c.Mapper)
		if c.Discovery != nil {
			c.Discovery.Invalidate()
		}
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster does not know kind %s (apiVersion %s): is its CRD installed?", gvk.Kind, gvk.GroupVersion())
		}
		return nil, apicall.Classify(err, "discover", gvk.String())
	}
	return m, nil
}
