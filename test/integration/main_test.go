//go:build integration

// Package integration runs kbrun's cluster task types against a real
// cluster: a real API server and a real kubelet running real containers
// (test/cluster/up.sh). KBRUN_TEST_KUBECONFIG must point at its kubeconfig;
// without a reachable cluster the tests fail, they never skip.
//
//	go test -tags integration ./test/integration/ -v
package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks"
)

const (
	busybox = "kbrun.local/busybox:1.35"
	pause   = "registry.k8s.io/pause:3.10"
)

var (
	kubeconfig string
	provider   *kube.FlagsProvider
	clients    *kube.Clients
)

func TestMain(m *testing.M) {
	kubeconfig = os.Getenv("KBRUN_TEST_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KBRUN_TEST_KUBECONFIG is not set: point it at the test cluster's kubeconfig (test/cluster/up.sh writes /var/lib/kbrun-cluster/kubeconfig)")
		os.Exit(1)
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	provider = kube.NewFlagsProvider(flags)
	var err error
	clients, err = provider.Clients()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cluster clients from %s: %v\n", kubeconfig, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nodes, err := clients.Typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the cluster of %s is unreachable: %v\n", kubeconfig, err)
		os.Exit(1)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the cluster of %s has no Ready node (%d nodes)\n", kubeconfig, len(nodes.Items))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	name := strings.ToLower(fmt.Sprintf("it-%s-%s", shortName(t.Name()), hex.EncodeToString(b)))
	ctx := context.Background()
	_, err := clients.Typed.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	// Pods need the default service account before they can be created.
	waitFor(t, 30*time.Second, func() bool {
		_, err := clients.Typed.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	t.Cleanup(func() {
		zero := int64(0)
		clients.Typed.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	return name
}

func shortName(s string) string {
	s = strings.NewReplacer("/", "-", "_", "-").Replace(strings.TrimPrefix(strings.TrimPrefix(s, "Test"), "Benchmark"))
	if len(s) > 30 {
		s = s[:30]
	}
	return strings.Trim(s, "-")
}

func waitFor(t testing.TB, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tlog is a writer that sends lines to t.Log.
type tlog struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (w *tlog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			break
		}
		w.t.Log(w.prefix + strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// newEnv is what the engine gives a task: the shared clients, the namespace,
// live output and the applied set.
func newEnv(t testing.TB, ns string, applied *kube.AppliedSet) *task.Env {
	if applied == nil {
		applied = &kube.AppliedSet{}
	}
	return &task.Env{
		Task: shortName(t.Name()), Namespace: ns,
		Stdout: &tlog{t: t, prefix: "stdout| "}, Stderr: &tlog{t: t, prefix: "stderr| "},
		Logf:    func(f string, a ...any) { t.Logf("kbrun: "+f, a...) },
		Kube:    provider,
		Applied: applied,
	}
}

// run prepares and runs one task of the given type, as the engine would.
func run(t testing.TB, env *task.Env, typ string, timeout time.Duration, params map[string]any) (task.Outputs, error) {
	t.Helper()
	ty, ok := tasks.Registry().Get(typ)
	if !ok {
		t.Fatalf("no task type %q", typ)
	}
	// Manifest files are rendered with the test's values, as the engine
	// renders them with the run's.
	data := map[string]any{"vars": map[string]any{"namespace": env.Namespace, "image": busybox}, "pipeline": map[string]any{"name": "it"}}
	a, err := ty.Prepare(task.Params{Value: params, Dir: ".", Rendered: true, Namespace: env.Namespace, Manifests: prepare.Reader(".", data)})
	if err != nil {
		t.Fatalf("prepare %s: %v", typ, err)
	}
	t.Logf("plan: %s", a.Describe())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.Run(ctx, env)
}

func mustRun(t testing.TB, env *task.Env, typ string, timeout time.Duration, params map[string]any) task.Outputs {
	t.Helper()
	out, err := run(t, env, typ, timeout, params)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return out
}

// pod creates a bare pod and waits (by watch) until it is Running and Ready.
func pod(t testing.TB, ns, name string, spec corev1.PodSpec) *corev1.Pod {
	t.Helper()
	zero := int64(0)
	spec.TerminationGracePeriodSeconds = &zero
	for i := range spec.Containers {
		if spec.Containers[i].ImagePullPolicy == "" {
			spec.Containers[i].ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := clients.Typed.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"it": name}}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	return waitPodReady(t, ctx, ns, name)
}

func waitPodReady(t testing.TB, ctx context.Context, ns, name string) *corev1.Pod {
	t.Helper()
	pods := clients.Typed.CoreV1().Pods(ns)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return pods.Watch(ctx, o)
		},
	}
	var got *corev1.Pod
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				got = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		p, _ := pods.Get(context.Background(), name, metav1.GetOptions{})
		t.Fatalf("pod %s/%s not ready: %v; status %+v", ns, name, err, p.Status)
	}
	return got
}

func sleeper(name, image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image, Command: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}}}}
}

func contains(t testing.TB, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
}

var _ = apierrors.IsNotFound
var _ = io.Discard
