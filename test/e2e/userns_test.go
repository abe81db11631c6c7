//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// recommendedCaps is what pipelines/README.md recommends with a user
// namespace: the seed's four plus DAC_OVERRIDE, so multi-stage builds work.
var recommendedCaps = []string{"CHOWN", "SETUID", "SETGID", "FOWNER", "DAC_OVERRIDE"}

// usernsOutput returns the lines the checkUserNamespace task printed.
func usernsOutput(r result) string {
	out, _ := r.ends["checkUserNamespace"].Outputs["stdout"].(string)
	return out
}

// TestUserNamespaceMultistage runs the default pipeline the way the README
// recommends on a cluster with user namespaces: hostUsers: false, the seed's
// capabilities plus DAC_OVERRIDE, the multi-stage Dockerfile. The check task
// must have read a uid_map that maps the pod's root to an unprivileged UID
// of the node, the builder's processes must run under that UID on the node,
// and the build must pass.
func TestUserNamespaceMultistage(t *testing.T) {
	r := runPipeline(t, "--set", "userNamespace=true", "--set", "dockerfile=multistage",
		"--set", "capabilities=["+strings.Join(recommendedCaps, ",")+"]", "--keep")
	t.Cleanup(func() { relDeleteNamespace(t, namespace) })
	mustPass(t, r)
	digest(t, r)
	check := r.ends["checkUserNamespace"]
	if check.Status != "ok" {
		t.Fatalf("checkUserNamespace: %+v, want ok\n%s", check, r.summary())
	}
	out := usernsOutput(r)
	t.Logf("checkUserNamespace printed:\n%s", out)
	hostUID := mappedRoot(t, out)
	if !strings.Contains(out, fmt.Sprintf("user namespace: UID 0 in the builder is UID %d on the node", hostUID)) {
		t.Errorf("check output lacks its verdict:\n%s", out)
	}
	// The check ran before the build, and the JSON events carry its lines.
	var order []string
	var lines int
	for _, e := range r.events {
		if e.Type == "task.end" {
			order = append(order, e.Task)
		}
		if e.Task == "checkUserNamespace" && strings.HasPrefix(e.Line, "uid_map: ") {
			lines++
		}
	}
	if lines == 0 {
		t.Errorf("no checkUserNamespace event shows the uid_map:\n%s", r.summary())
	}
	if i, j := index(order, "checkUserNamespace"), index(order, "build"); i < 0 || j < 0 || i > j {
		t.Errorf("task order %v: checkUserNamespace must end before build", order)
	}

	builder := assertBuilderPod(t, podName(t, r, "builder"), recommendedCaps)
	if builder.Spec.HostUsers == nil || *builder.Spec.HostUsers {
		t.Errorf("builder pod spec.hostUsers = %v, want false", deref(builder.Spec.HostUsers))
	}
	// Pod Security: the user namespace lifts restricted's runAsNonRoot and
	// runAsUser rules; only the added capabilities keep the builder baseline.
	var psLine string
	for _, e := range r.events {
		if e.Task == "podSecurity" && strings.Contains(e.Line, "Deployment/ones/kaniko-rootless-demo-deployment:") {
			psLine = e.Line
		}
	}
	if !strings.Contains(psLine, "baseline (restricted fails: unrestricted capabilities") ||
		strings.Contains(psLine, "runAsNonRoot") || strings.Contains(psLine, "runAsUser") {
		t.Errorf("podSecurity line for the builder in a user namespace: %q, want baseline failing restricted only on capabilities", psLine)
	}

	// On the node, when it is this machine (the project cluster): every
	// process of the builder pod runs under the UID its root is mapped to.
	uids, local := podProcessUIDs(t, string(builder.UID))
	if !local {
		t.Logf("the node is not this machine (no kubepods cgroups here): host UIDs not checked")
		return
	}
	if len(uids) == 0 {
		t.Fatalf("no host process found in the cgroups of builder pod %s", builder.Name)
	}
	for pid, uid := range uids {
		if uid != hostUID {
			t.Errorf("builder process %d runs as host UID %d, want %d (the uid_map's)", pid, uid, hostUID)
		}
	}
	t.Logf("builder pod %s: %d host processes, all UID %d", builder.Name, len(uids), hostUID)
}

// mappedRoot parses "uid_map: 0 <host> <count>" from the check's output and
// returns the host UID of the pod's root; it must be an unprivileged one,
// above the node's own 0-65535 (kubelet's default ranges start at 65536).
func mappedRoot(t *testing.T, out string) int {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f, ok := strings.CutPrefix(line, "uid_map: ")
		if !ok {
			continue
		}
		fields := strings.Fields(f)
		if len(fields) != 3 || fields[0] != "0" {
			t.Fatalf("uid_map %q: want one line \"0 <host uid> <count>\"", f)
		}
		if f == "0 0 4294967295" {
			t.Fatalf("uid_map is the identity map %q: no user namespace", f)
		}
		host, err := strconv.Atoi(fields[1])
		if err != nil || host < 65536 {
			t.Fatalf("uid_map %q maps the pod's root to host UID %q, want >= 65536", f, fields[1])
		}
		if fields[2] != "65536" {
			t.Errorf("uid_map %q: %s IDs, want 65536 (kubelet's default per pod)", f, fields[2])
		}
		return host
	}
	t.Fatalf("the check printed no \"uid_map: \" line:\n%s", out)
	return 0
}

// podProcessUIDs maps the PID of every host process in the cgroups of the
// pod with the given UID to its real UID (from /proc/PID/status); local is
// false when this machine runs no pods at all (the node is elsewhere).
func podProcessUIDs(t *testing.T, podUID string) (uids map[int]int, local bool) {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	under := strings.ReplaceAll(podUID, "-", "_")
	out := map[int]int{}
	for _, d := range dirs {
		cg, err := os.ReadFile(filepath.Join(d, "cgroup"))
		if err != nil {
			continue
		}
		local = local || strings.Contains(string(cg), "kubepods")
		if !(strings.Contains(string(cg), "pod"+podUID) || strings.Contains(string(cg), "pod"+under)) {
			continue
		}
		status, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		for _, line := range strings.Split(string(status), "\n") {
			if f, ok := strings.CutPrefix(line, "Uid:"); ok {
				real, err := strconv.Atoi(strings.Fields(f)[0])
				if err != nil {
					t.Fatalf("%s/status: Uid line %q", d, line)
				}
				out[pid] = real
			}
		}
	}
	return out, local
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestUserNamespaceDroppedIsCaught: the builder asks for a user namespace
// and does not get one. A MutatingAdmissionPolicy sets hostUsers back to
// true in one namespace, as an API server without the UserNamespacesSupport
// gate (Kubernetes before 1.33) or a cluster policy silently would: the pod
// then runs with the identity uid_map. The run must fail in
// checkUserNamespace, naming the map, and never build.
func TestUserNamespaceDroppedIsCaught(t *testing.T) {
	const ns = "kbrun-userns-dropped"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := "kbrun-e2e-drop-hostusers"
	never := admissionv1.NeverReinvocationPolicy
	fail := admissionv1.Fail
	policy := &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			FailurePolicy:      &fail,
			ReinvocationPolicy: never,
			Mutations: []admissionv1.Mutation{{
				PatchType:          admissionv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1.ApplyConfiguration{Expression: "Object{spec: Object.spec{hostUsers: true}}"},
			}},
		},
	}
	binding := &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	mapi := client.AdmissionregistrationV1()
	if _, err := mapi.MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MutatingAdmissionPolicy %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mapi.MutatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete MutatingAdmissionPolicyBinding %s: %v", name, err)
		}
		if err := mapi.MutatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete MutatingAdmissionPolicy %s: %v", name, err)
		}
	})
	if _, err := mapi.MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MutatingAdmissionPolicyBinding %s: %v", name, err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { relDeleteNamespace(t, ns) })

	// The API server loads policies asynchronously and tells no one when: a
	// server-side dry run shows when the mutation applies in ns.
	no := false
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
		Spec: corev1.PodSpec{
			HostUsers:                    &no,
			AutomountServiceAccountToken: &no,
			Containers:                   []corev1.Container{{Name: "c", Image: "kbrun.local/busybox:1.35"}},
		},
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err
			return false, nil
		}
		return p.Spec.HostUsers != nil && *p.Spec.HostUsers, nil
	})
	if err != nil {
		t.Fatalf("the MutatingAdmissionPolicy never set hostUsers in %s (last error: %v)", ns, last)
	}

	r := runPipeline(t, "--set", "namespace="+ns, "--set", "userNamespace=true", "--set", "dockerfile=multistage",
		"--set", "capabilities=["+strings.Join(recommendedCaps, ",")+"]")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
	}
	check := r.ends["checkUserNamespace"]
	t.Logf("checkUserNamespace: %s", check.Error)
	for _, want := range []string{
		`no user namespace: the builder's /proc/self/uid_map "0 0 4294967295" maps the node's UID 0 into the pod`,
		"root in the builder is root on the node",
		"Not building.",
	} {
		if check.Status != "failed" || !strings.Contains(check.Error, want) {
			t.Errorf("checkUserNamespace end %+v, want failed with %q", check, want)
		}
	}
	for _, later := range []string{"copy", "build", "test"} {
		if e, ok := r.ends[later]; ok && e.Status == "ok" {
			t.Errorf("task %s ran after the failed user namespace check", later)
		}
	}
	if e := r.ends["cleanup"]; e.Status != "ok" {
		t.Errorf("cleanup after the failed check: %+v", e)
	}
}

// TestUserNamespaceUnsupportedRuntimeFailsFast: on a runtime that cannot
// give a pod a user namespace (the project cluster's runc-1-1 handler: runc
// before 1.2 has no idmap mounts, as on containerd 1.x nodes), kubelet
// refuses the builder's sandbox for good. The builder task must fail at
// once, quoting kubelet's reason, not wait out builderTimeout.
func TestUserNamespaceUnsupportedRuntimeFailsFast(t *testing.T) {
	const rc, handler = "kbrun-e2e-runc-1-1", "runc-1-1"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var known bool
	for _, n := range nodes.Items {
		for _, h := range n.Status.RuntimeHandlers {
			if h.Name == handler {
				known = true
				if h.Features != nil && h.Features.UserNamespaces != nil && *h.Features.UserNamespaces {
					t.Fatalf("node %s reports handler %s with user namespaces; this test needs one without", n.Name, handler)
				}
			}
		}
	}
	if !known {
		t.Fatalf("no node has a runtime handler %q (test/cluster/up.sh configures it)", handler)
	}
	if _, err := client.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: rc}, Handler: handler}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create RuntimeClass %s: %v", rc, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.NodeV1().RuntimeClasses().Delete(ctx, rc, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete RuntimeClass %s: %v", rc, err)
		}
	})

	r := runPipeline(t, "--set", "userNamespace=true", "--set", "runtimeClassName="+rc)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
	}
	b := r.ends["builder"]
	t.Logf("builder failed after %dms: %s", b.Duration, b.Error)
	want := "is stuck in FailedCreatePodSandBox: Failed to create pod sandbox: can't set `spec.hostUsers: false`, RuntimeClass handler \"" + handler + "\" does not support user namespaces"
	if b.Status != "failed" || !strings.Contains(b.Error, want) {
		t.Errorf("builder end %+v, want failed with %q", b, want)
	}
	if b.Duration > 30_000 {
		t.Errorf("builder failed after %d ms; fail-fast wants well under builderTimeout (2m)", b.Duration)
	}
	for _, later := range []string{"checkUserNamespace", "copy", "build", "test"} {
		if e, ok := r.ends[later]; ok && e.Status == "ok" {
			t.Errorf("task %s ran after the failed builder", later)
		}
	}
	if e := r.ends["cleanup"]; e.Status != "ok" {
		t.Errorf("cleanup: %+v", e)
	}
	assertGone(t)
}
