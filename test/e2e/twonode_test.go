//go:build e2e && twonode

package e2e

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The project cluster's two nodes (test/cluster/node2.sh, make two-node).
const (
	node1 = "kbrun-node"
	node2 = "kbrun-node2"
)

// twoNodes fails the test unless both nodes are Ready: the suite proves
// nothing on one.
func twoNodes(t *testing.T) {
	t.Helper()
	for _, n := range []string{node1, node2} {
		node, err := client.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v (start the second node with test/cluster/node2.sh up, or run make two-node)", n, err)
		}
		ready := false
		for _, c := range node.Status.Conditions {
			ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		}
		if !ready || node.Spec.Unschedulable {
			t.Fatalf("node %s is not Ready and schedulable: %+v", n, node.Status.Conditions)
		}
	}
}

// placement records the node each of the run's pods was bound to, read
// when the task that made it ends (the namespace is gone after the run).
type placement struct {
	mu    sync.Mutex
	nodes map[string]string // task → node
}

func (p *placement) record(t *testing.T, ns string, e relEvent) {
	if e.Type != "task.end" || e.Status != "ok" || (e.Task != "builder" && e.Task != "test") {
		return
	}
	pod, _ := e.Outputs["pod"].(string)
	if pod == "" {
		return
	}
	got, err := client.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Errorf("pod %s of task %s: %v", pod, e.Task, err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes[e.Task] = got.Spec.NodeName
}

// twoNodeRun runs the default pipeline in ns with extra args and checks that
// it leaves nothing behind, whatever its outcome.
func twoNodeRun(t *testing.T, ns string, onEvent func(relEvent), extra ...string) *relResult {
	t.Helper()
	r := relKbrun(t, relOpts{args: relPipelineArgs(ns, extra...), timeout: 12 * time.Minute, onEvent: func(e relEvent, _ *os.Process) {
		if onEvent != nil {
			onEvent(e)
		}
	}})
	if left := relLeftovers(t, ns); len(left) != 0 {
		t.Errorf("the run left %v in %s", left, ns)
	}
	relAssertNamespaceGone(t, ns)
	return r
}

// TestTwoNodesRegistryTrap: the image pushed through the registry's
// Service pulls as localhost:5000 only on the node that runs the registry.
// On the other node the test Deployment fails at once with the pull error,
// naming the address, not after its timeout.
func TestTwoNodesRegistryTrap(t *testing.T) {
	twoNodes(t)
	ns := relNamespace(t, "two-trap")
	r := twoNodeRun(t, ns, nil, "--set", "builderNode="+node1, "--set", "testNode="+node2)
	end := r.ends["test"]
	relLogf(t, "localhost pull on %s: exit %d in %s; test: %s", node2, r.code, r.duration.Round(100*time.Millisecond), firstLine(end.Error))
	if r.code != 1 || end.Status != "failed" {
		t.Fatalf("want the test task to fail (exit 1), got exit %d, test %q\n%s", r.code, end.Status, r.summary())
	}
	if !strings.Contains(end.Error, "localhost:5000") || !strings.Contains(strings.ToLower(end.Error), "pull") || strings.Contains(end.Error, "timed out") {
		t.Errorf("the test task's error must quote the failed pull of localhost:5000, before its timeout:\n%s", end.Error)
	}
}

// TestTwoNodesRegistryProxy: with registryProxy every node pulls the image
// through its own loopback proxy, wherever the builder and the test pod run.
func TestTwoNodesRegistryProxy(t *testing.T) {
	twoNodes(t)
	for _, c := range []struct{ name, builder, test string }{
		{"builder on node2, test on node1", node2, node1},
		{"builder on node1, test on node2", node1, node2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := relNamespace(t, "two-proxy")
			p := &placement{nodes: map[string]string{}}
			r := twoNodeRun(t, ns, func(e relEvent) { p.record(t, ns, e) },
				"--set", "registryProxy=true", "--set", "registryImage=kbrun.local/registry:3.1.2",
				"--set", "builderNode="+c.builder, "--set", "testNode="+c.test)
			relLogf(t, "registryProxy, %s: exit %d in %s; pods on %v", c.name, r.code, r.duration.Round(100*time.Millisecond), p.nodes)
			if r.code != 0 {
				t.Fatalf("the run failed:\n%s", r.summary())
			}
			if p.nodes["builder"] != c.builder || p.nodes["test"] != c.test {
				t.Errorf("pods ran on %v, want builder on %s and test on %s", p.nodes, c.builder, c.test)
			}
			if r.ends["registryProxy"].Status != "ok" {
				t.Errorf("the registryProxy task did not run: %+v", r.ends["registryProxy"])
			}
		})
	}
}

// TestTwoNodesDrainDuringRollout: the node the built image must run on is
// drained while it rolls out (cordoned, its pods of the run evicted): the
// replacement pod cannot be scheduled, and the test task fails with the
// scheduler's reason within its unschedulable grace, not at its timeout.
func TestTwoNodesDrainDuringRollout(t *testing.T) {
	twoNodes(t)
	ns := relNamespace(t, "two-drain")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	t.Cleanup(func() { cordon(t, node2, false) })
	var once sync.Once
	drained := make(chan struct{})
	r := twoNodeRun(t, ns, func(e relEvent) {
		if e.Type == "task.start" && e.Task == "test" {
			once.Do(func() { go drain(t, ctx, ns, node2, drained) })
		}
	}, "--set", "registryProxy=true", "--set", "registryImage=kbrun.local/registry:3.1.2",
		"--set", "builderNode="+node1, "--set", "testNode="+node2)
	stop()
	<-drained
	end := r.ends["test"]
	relLogf(t, "drain of %s during the test rollout: exit %d in %s; test: %s", node2, r.code, r.duration.Round(100*time.Millisecond), firstLine(end.Error))
	if r.code != 1 || end.Status != "failed" {
		t.Fatalf("want the test task to fail (exit 1), got exit %d, test %q\n%s", r.code, end.Status, r.summary())
	}
	if !strings.Contains(strings.ToLower(end.Error), "unschedulable") || strings.Contains(end.Error, "timed out") {
		t.Errorf("the test task's error must give the scheduler's reason before its timeout:\n%s", end.Error)
	}
}

// drain cordons node, then evicts (deletes) every pod of the run's
// namespace bound to it until ctx ends, as `kubectl drain` does once.
func drain(t *testing.T, ctx context.Context, ns, node string, done chan<- struct{}) {
	defer close(done)
	cordon(t, node, true)
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Errorf("watch pods on %s: %v", node, err)
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok || pod.DeletionTimestamp != nil || pod.Labels["app"] == "registry-proxy" {
			continue // a DaemonSet's pod stays, as drain --ignore-daemonsets leaves it
		}
		err := client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		if err != nil && ctx.Err() == nil {
			t.Logf("evict %s: %v", pod.Name, err)
		}
	}
}

// cordon marks node (un)schedulable.
func cordon(t *testing.T, node string, on bool) {
	t.Helper()
	patch := `{"spec":{"unschedulable":false}}`
	if on {
		patch = `{"spec":{"unschedulable":true}}`
	}
	if _, err := client.CoreV1().Nodes().Patch(context.Background(), node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Errorf("cordon %s=%v: %v", node, on, err)
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }
