package diagnose

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"sigs.k8s.io/yaml"

	"github.com/kbrun/kbrun/engine/pipeline"
)

// maxSelected bounds the objects a diagnose resource's selector dumps.
const maxSelected = 20

// extra does what a failed task's diagnose: stanza asks: dump resources,
// run commands. Its files go under extra/TASK/.
func (c *collector) extra(ctx context.Context, t Failed) {
	dir := "extra/" + fileName(t.Task) + "/"
	ns := func(given string) string { return cmpOr(given, cmpOr(t.Namespace, c.req.Clients.Namespace)) }
	for _, r := range t.Diagnose.Resources {
		if ctx.Err() != nil {
			return
		}
		what := strings.ToLower(r.Kind) + "/" + cmpOr(r.Name, "["+r.Selector+"]")
		objs, err := c.resource(ctx, r, ns(r.Namespace))
		if err != nil {
			c.f.note("diagnose resource %s of task %s: %v", what, t.Task, err)
			continue
		}
		var b strings.Builder
		for _, o := range objs {
			y, err := dump(o)
			if err != nil {
				c.f.note("diagnose resource %s of task %s: %v", what, t.Task, err)
				continue
			}
			b.WriteString("---\n" + y)
		}
		if len(objs) == 0 {
			b.WriteString("# no object matches\n")
		}
		c.f.write(dir+fileName(what)+".yaml", b.String())
	}
	for i, cmd := range t.Diagnose.Commands {
		if ctx.Err() != nil {
			return
		}
		out := c.command(ctx, cmd, ns(cmd.Namespace))
		c.f.write(fmt.Sprintf("%scommand-%d.txt", dir, i+1), fmt.Sprintf("$ %s\n%s", strings.Join(cmd.Command, " "), out))
	}
}

// resource gets the object r names, or those its selector matches.
func (c *collector) resource(ctx context.Context, r pipeline.DiagnoseResource, ns string) ([]*unstructured.Unstructured, error) {
	cl := c.req.Clients
	if cl.Mapper == nil || cl.Dynamic == nil {
		return nil, fmt.Errorf("the run has no dynamic client")
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return nil, err
	}
	var m *meta.RESTMapping
	if r.APIVersion != "" {
		m, err = cl.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: r.Kind}, gv.Version)
	} else {
		var gvk schema.GroupVersionKind
		if gvk, err = cl.Mapper.KindFor(schema.GroupVersionResource{Resource: strings.ToLower(r.Kind)}); err == nil {
			m, err = cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
	}
	if err != nil {
		return nil, err
	}
	res := cl.Dynamic.Resource(m.Resource)
	var api interface {
		Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
		List(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error)
	} = res
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		api = res.Namespace(ns)
	}
	if r.Name != "" {
		o, err := api.Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return []*unstructured.Unstructured{o}, nil
	}
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: r.Selector, Limit: maxSelected})
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// dump is o as YAML without its managed fields; a Secret's values are
// never written (its keys are).
func dump(o *unstructured.Unstructured) (string, error) {
	o = o.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	if o.GetKind() == "Secret" && o.GetAPIVersion() == "v1" {
		for _, field := range []string{"data", "stringData"} {
			if m, ok := o.Object[field].(map[string]any); ok {
				for k := range m {
					m[k] = "(not shown)"
				}
			}
		}
		if ann := o.GetAnnotations(); ann != nil {
			delete(ann, corev1.LastAppliedConfigAnnotation)
			o.SetAnnotations(ann)
		}
	}
	y, err := yaml.Marshal(o.Object)
	return string(y), err
}

// command runs cmd in its pod and returns what it printed (bounded), or
// why it could not.
func (c *collector) command(ctx context.Context, cmd pipeline.DiagnoseCommand, ns string) string {
	ctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	pod := cmd.Pod
	if pod == "" {
		list, err := c.req.Clients.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: cmd.Selector})
		if err != nil {
			return "not run: " + err.Error() + "\n"
		}
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				pod = p.Name
				break
			}
		}
		if pod == "" {
			return fmt.Sprintf("not run: no running pod matches %s in namespace %s\n", cmd.Selector, ns)
		}
	}
	out := &capped{left: c.limits.Output}
	err := c.exec(ctx, ns, pod, cmd.Container, cmd.Command, out)
	text := fmt.Sprintf("# in pod %s/%s\n%s", ns, pod, out.String())
	if err != nil {
		text += fmt.Sprintf("\n# the command failed: %v\n", err)
	}
	return text
}

func (c *collector) exec(ctx context.Context, ns, pod, container string, command []string, out *capped) error {
	cl := c.req.Clients
	req := cl.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cl.Config, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cl.Config, http.MethodGet, req.URL().String())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: out})
}

// capped keeps the first bytes written to it, up to left, and says when
// it dropped the rest. stdout and stderr write to it at once.
type capped struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	left int64
	cut  bool
}

func (w *capped) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if int64(len(p)) > w.left {
		p, w.cut = p[:w.left], true
	}
	w.buf.Write(p)
	w.left -= int64(len(p))
	return n, nil
}

func (w *capped) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut {
		return w.buf.String() + "\n[cut: the command printed more than the bound]\n"
	}
	return w.buf.String()
}
