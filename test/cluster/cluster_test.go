// Integration tests of kbrun's single-node test cluster harness: they check the
// issue's "Done when" items against the cluster named by KBRUN_TEST_KUBECONFIG.
// They FAIL (never skip) when no cluster is reachable, and say why.
//
// Run: KBRUN_TEST_KUBECONFIG=/var/lib/kbrun-cluster/kubeconfig go test -count=1 -v .
// (test/cluster/test.sh does exactly that).
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	busyboxImage = "kbrun.local/busybox:1.35"
	kanikoImage  = "gcr.io/kaniko-project/executor:v1.24.0-debug"
	registryPush = "registry.kbrun-registry.svc.cluster.local:5000"
	registryPull = "localhost:5000"
	nodeName     = "kbrun-node"
)

var kubeconfig string

func TestMain(m *testing.M) {
	kubeconfig = os.Getenv("KBRUN_TEST_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KBRUN_TEST_KUBECONFIG is not set: these integration tests need a real cluster.\n"+
			"Bring one up with test/cluster/up.sh (or `make cluster-up`) and export KBRUN_TEST_KUBECONFIG=/var/lib/kbrun-cluster/kubeconfig,\n"+
			"or run them through test/cluster/with-cluster.sh, which does both and tears the cluster down after.")
		os.Exit(1)
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: KBRUN_TEST_KUBECONFIG=%s: %v\n", kubeconfig, err)
		os.Exit(1)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBECACHEDIR") == "" { // keep kubectl's cache out of ~/.kube
		if dir, err := os.MkdirTemp("", "kbrun-kubecache-"); err == nil {
			os.Setenv("KUBECACHEDIR", dir)
			defer os.RemoveAll(dir)
		}
	}
	out, err := kubectlCtx(context.Background(), 20*time.Second, nil, "get", "--raw", "/readyz")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the cluster of KBRUN_TEST_KUBECONFIG=%s is not reachable: %v\n%s\n", kubeconfig, err, out)
		return 1
	}
	return m.Run()
}

func kubectlCtx(ctx context.Context, timeout time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// kubectl runs kubectl and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlCtx(context.Background(), 3*time.Minute, nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func apply(t *testing.T, manifest string) {
	t.Helper()
	out, err := kubectlCtx(context.Background(), time.Minute, []byte(manifest), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n--- manifest:\n%s", err, out, manifest)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// namespace creates a fresh namespace, waits for its default ServiceAccount and
// deletes the namespace when the test ends (without waiting for it to go).
func namespace(t *testing.T) string {
	t.Helper()
	ns := "kbrun-harness-" + randHex(4)
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := kubectlCtx(context.Background(), 30*time.Second, nil, "-n", ns, "get", "pods,events", "-o", "wide")
			t.Logf("namespace %s at failure:\n%s", ns, out)
		}
		_, _ = kubectlCtx(context.Background(), 30*time.Second, nil, "delete", "namespace", ns, "--wait=false")
	})
	waitFor(t, 30*time.Second, "default ServiceAccount in "+ns, func() bool {
		_, err := kubectlCtx(context.Background(), 10*time.Second, nil, "-n", ns, "get", "serviceaccount", "default")
		return err == nil
	})
	return ns
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func podPhase(t *testing.T, ns, pod string) string {
	out, _ := kubectlCtx(context.Background(), 10*time.Second, nil, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
	return strings.TrimSpace(out)
}

func waitPodReady(t *testing.T, ns, pod string, timeout time.Duration) {
	t.Helper()
	kubectl(t, "-n", ns, "wait", "--for=condition=Ready", "pod/"+pod, "--timeout="+timeout.String())
}

func waitPodSucceeded(t *testing.T, ns, pod string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "pod "+ns+"/"+pod+" to succeed", func() bool {
		switch podPhase(t, ns, pod) {
		case "Succeeded":
			return true
		case "Failed":
			logs, _ := kubectlCtx(context.Background(), 20*time.Second, nil, "-n", ns, "logs", pod)
			t.Fatalf("pod %s/%s failed; logs:\n%s", ns, pod, logs)
		}
		return false
	})
}

func busyboxPod(name, ns, script string, labels string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {%s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, name, ns, labels, busyboxImage, script)
}

func TestNodeReady(t *testing.T) {
	out := kubectl(t, "get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	if strings.TrimSpace(out) != "True" {
		t.Fatalf("node %s Ready condition = %q, want True", nodeName, out)
	}
	ver := kubectl(t, "get", "node", nodeName, "-o", "jsonpath={.status.nodeInfo.kubeletVersion}")
	if ver != "v1.37.2" {
		t.Errorf("kubelet version = %q, want v1.37.2 (stamped at build)", ver)
	}
}

func TestBusyboxPodExecLogsCp(t *testing.T) {
	ns := namespace(t)
	apply(t, busyboxPod("bb", ns, "echo hello-from-busybox; exec sleep 3600", "app: bb"))
	waitPodReady(t, ns, "bb", 60*time.Second)

	// Ready only means started: the echo may not have run yet, so poll the logs.
	var logs string
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs = kubectl(t, "-n", ns, "logs", "bb")
		if strings.Contains(logs, "hello-from-busybox") || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(logs, "hello-from-busybox") {
		t.Errorf("kubectl logs: got %q, want hello-from-busybox", logs)
	}
	if out := kubectl(t, "-n", ns, "exec", "bb", "--", "sh", "-c", "echo $((6*7))"); strings.TrimSpace(out) != "42" {
		t.Errorf("kubectl exec: got %q, want 42", out)
	}

	// kubectl cp both ways, verified by checksum (exec stdin is known to lose data
	// now and then on the first exec into a fresh pod: retry and report it).
	dir := t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	payload := make([]byte, 256*1024)
	_, _ = rand.Read(payload)
	if err := os.WriteFile(src, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	want := hex.EncodeToString(sum[:])
	var got string
	for attempt := 1; attempt <= 3; attempt++ {
		if out, err := kubectlCtx(context.Background(), time.Minute, nil, "-n", ns, "cp", src, "bb:/tmp/payload.bin"); err != nil {
			t.Logf("kubectl cp attempt %d failed: %v\n%s", attempt, err, out)
			continue
		}
		got = strings.Fields(kubectl(t, "-n", ns, "exec", "bb", "--", "sha256sum", "/tmp/payload.bin") + " x")[0]
		if got == want {
			break
		}
		t.Logf("kubectl cp attempt %d: checksum in pod %s, want %s; retrying", attempt, got, want)
	}
	if got != want {
		t.Fatalf("kubectl cp into the pod: checksum %s, want %s", got, want)
	}
	back := filepath.Join(dir, "back.bin")
	kubectl(t, "-n", ns, "cp", "bb:/tmp/payload.bin", back)
	data, err := os.ReadFile(back)
	if err != nil {
		t.Fatalf("kubectl cp out of the pod: %v", err)
	}
	if !bytes.Equal(data, payload) {
		t.Fatalf("kubectl cp out of the pod: %d bytes differ from the %d sent", len(data), len(payload))
	}
}

func TestClusterIPServiceAndDNS(t *testing.T) {
	ns := namespace(t)
	token := randHex(8)
	apply(t, busyboxPod("web", ns,
		"mkdir -p /www && echo pong-"+token+" > /www/index.html && exec httpd -f -p 8080 -h /www", "app: web"))
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %s}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, ns))
	apply(t, busyboxPod("client", ns, "exec sleep 3600", "app: client"))
	waitPodReady(t, ns, "web", 60*time.Second)
	waitPodReady(t, ns, "client", 60*time.Second)
	ip := strings.TrimSpace(kubectl(t, "-n", ns, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"))

	fetch := func(host string) string {
		// busybox wget segfaults on refused connections; nc does not.
		script := fmt.Sprintf(`for i in $(seq 1 40); do
  out=$(printf 'GET / HTTP/1.0\r\nHost: web\r\n\r\n' | nc -w 2 %s 80 2>&1) && case "$out" in *pong-*) echo "$out"; exit 0;; esac
  sleep 0.5
done; echo "last answer: $out"; exit 1`, host)
		out, err := kubectlCtx(context.Background(), 90*time.Second, nil, "-n", ns, "exec", "client", "--", "sh", "-c", script)
		if err != nil {
			t.Fatalf("from pod client, GET http://%s:80/ failed: %v\n%s", host, err, out)
		}
		return out
	}
	if out := fetch(ip); !strings.Contains(out, "pong-"+token) {
		t.Errorf("ClusterIP %s answered %q, want pong-%s", ip, out, token)
	}
	// Service name through cluster DNS (CoreDNS behind kube-dns).
	if out := fetch("web." + ns + ".svc.cluster.local"); !strings.Contains(out, "pong-"+token) {
		t.Errorf("web.%s.svc.cluster.local answered %q, want pong-%s", ns, out, token)
	}
	if out := fetch("web"); !strings.Contains(out, "pong-"+token) {
		t.Errorf("short name web answered %q, want pong-%s", out, token)
	}
	// The kubernetes Service (apiserver) answers from pods too.
	out, err := kubectlCtx(context.Background(), 30*time.Second, nil, "-n", ns, "exec", "client", "--", "sh", "-c",
		"for i in 1 2 3 4 5; do echo | nc -w 3 kubernetes.default.svc.cluster.local 443 >/dev/null && { echo reachable; exit 0; }; sleep 1; done; exit 1")
	if err != nil || !strings.Contains(out, "reachable") {
		t.Errorf("kubernetes.default Service :443 not reachable from a pod: %v\n%s", err, out)
	}
}

// TestRegistryPushPull builds an image with Kaniko in a non-privileged pod, pushes
// it through the registry Service, and runs it from localhost:5000 on the node.
func TestRegistryPushPull(t *testing.T) { kanikoPushPull(t, kanikoImage, "v1.24.0") }

// kanikoPushPull: Kaniko from image (executor stamped with version) in a pod
// without privileges builds and pushes a scratch image, which then runs from
// the node's pull address.
func kanikoPushPull(t *testing.T, image, version string) {
	ns := namespace(t)
	token := randHex(8)
	repo := "kbrun-harness/hello"
	tag := token
	script := fmt.Sprintf(`set -e
/kaniko/executor version
test -x /kaniko/warmer
mkdir -p /workspace/ctx
cp /busybox/busybox /workspace/ctx/busybox
echo hello-from-kaniko-%[1]s > /workspace/ctx/hello.txt
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.txt /hello.txt\nENTRYPOINT ["/bin/busybox", "cat", "/hello.txt"]\n' > /workspace/ctx/Dockerfile
exec /kaniko/executor --context dir:///workspace/ctx --dockerfile /workspace/ctx/Dockerfile \
  --destination %[2]s/%[3]s:%[4]s --insecure --skip-tls-verify --verbosity info`, token, registryPush, repo, tag)
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: kaniko, namespace: %s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: kaniko
    image: %s
    imagePullPolicy: IfNotPresent
    command: ["/busybox/sh", "-c", %q]
    securityContext:
      runAsUser: 0
      runAsNonRoot: false
      allowPrivilegeEscalation: false
      capabilities:
        drop: [ALL]
        add: [CHOWN, SETUID, SETGID, FOWNER]
    volumeMounts: [{name: workspace, mountPath: /workspace}]
  volumes: [{name: workspace, emptyDir: {}}]
`, ns, image, script))
	waitPodSucceeded(t, ns, "kaniko", 3*time.Minute)
	klog := kubectl(t, "-n", ns, "logs", "kaniko")
	t.Logf("kaniko log:\n%s", klog)
	if !strings.Contains(klog, version) {
		t.Errorf("kaniko executor did not report version %s (stamped at build)", version)
	}
	runPushed(t, ns, repo, tag, "hello-from-kaniko-"+token)
}

// runPushed runs repo:tag, pushed to the registry, from the node's pull
// address and wants its log to hold want.
func runPushed(t *testing.T, ns, repo, tag, want string) {
	t.Helper()
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: hello
    image: %s/%s:%s
    imagePullPolicy: IfNotPresent
`, ns, registryPull, repo, tag))
	waitPodSucceeded(t, ns, "hello", 2*time.Minute)
	if logs := kubectl(t, "-n", ns, "logs", "hello"); !strings.Contains(logs, want) {
		t.Fatalf("pod from %s/%s:%s logged %q, want %s", registryPull, repo, tag, logs, want)
	}
}

// TestSeedFlow replays the hand-run procedure kbrun automates (the seed): a Kaniko
// builder Deployment with only CHOWN/SETUID/SETGID/FOWNER, a Go HTTP server binary
// copied in with kubectl cp, a Kaniko build+push run through kubectl exec, and a
// Deployment running the pushed image from localhost:5000 that logs "Hello World".
func TestSeedFlow(t *testing.T) {
	start := time.Now()
	ns := namespace(t)
	token := randHex(6)

	// the server binary (static, like the seed's server/main)
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"net/http"
)

func main() {
	fmt.Println("Hello World")
	fmt.Println("Server started on port 8081")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Hello World") })
	if err := http.ListenAndServe(":8081", nil); err != nil {
		panic(err)
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module seedserver\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "main", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the seed server: %v\n%s", err, out)
	}
	bin, _ := os.ReadFile(filepath.Join(dir, "main"))
	sum := sha256.Sum256(bin)
	want := hex.EncodeToString(sum[:])

	apply(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: kaniko-rootless-demo-deployment, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: kaniko-rootless-demo}}
  template:
    metadata: {labels: {app: kaniko-rootless-demo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: kaniko-rootless-demo
        image: %[2]s
        imagePullPolicy: IfNotPresent
        command: ["/busybox/sh", "-c", "exec /busybox/sleep 3600"]
        securityContext:
          runAsNonRoot: false
          runAsUser: 0
          allowPrivilegeEscalation: false
          capabilities:
            drop: [ALL]
            add: [CHOWN, SETUID, SETGID, FOWNER]
        volumeMounts: [{name: workspace, mountPath: /workspace}]
      volumes: [{name: workspace, emptyDir: {}}]
`, ns, kanikoImage))
	kubectl(t, "-n", ns, "rollout", "status", "deployment/kaniko-rootless-demo-deployment", "--timeout=90s")
	pod := strings.TrimSpace(kubectl(t, "-n", ns, "get", "pods", "-l", "app=kaniko-rootless-demo", "-o", "jsonpath={.items[0].metadata.name}"))

	var got string
	for attempt := 1; attempt <= 3; attempt++ {
		kubectl(t, "-n", ns, "exec", pod, "--", "mkdir", "-p", "/workspace/server")
		if out, err := kubectlCtx(context.Background(), time.Minute, nil, "-n", ns, "cp", filepath.Join(dir, "main"), pod+":/workspace/server/main"); err != nil {
			t.Logf("kubectl cp attempt %d failed: %v\n%s", attempt, err, out)
			continue
		}
		got = strings.Fields(kubectl(t, "-n", ns, "exec", pod, "--", "sha256sum", "/workspace/server/main") + " x")[0]
		if got == want {
			break
		}
		t.Logf("kubectl cp into the kaniko pod, attempt %d: checksum %s, want %s; retrying", attempt, got, want)
	}
	if got != want {
		t.Fatalf("kubectl cp into the kaniko pod: checksum %s, want %s", got, want)
	}

	image := "new-kaniko-rootless-image:" + token
	script := fmt.Sprintf(`set -e
cd /workspace/server
chmod 755 main
printf 'FROM scratch\nCOPY main /main\nENTRYPOINT ["/main"]\n' > Dockerfile
/kaniko/executor --context dir:///workspace/server --dockerfile /workspace/server/Dockerfile \
  --destination %s/%s --insecure --skip-tls-verify`, registryPush, image)
	if out, err := kubectlCtx(context.Background(), 3*time.Minute, nil, "-n", ns, "exec", pod, "--", "/busybox/sh", "-c", script); err != nil {
		t.Fatalf("kaniko build in the builder pod: %v\n%s", err, out)
	}

	apply(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: test-kaniko-rootless-deployment, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: test-kaniko-rootless}}
  template:
    metadata: {labels: {app: test-kaniko-rootless}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: %s/%s
        imagePullPolicy: IfNotPresent
`, ns, registryPull, image))
	kubectl(t, "-n", ns, "rollout", "status", "deployment/test-kaniko-rootless-deployment", "--timeout=90s")
	var logs string
	waitFor(t, 30*time.Second, "both log lines of the built server", func() bool {
		logs, _ = kubectlCtx(context.Background(), 10*time.Second, nil, "-n", ns, "logs", "deployment/test-kaniko-rootless-deployment")
		return strings.Contains(logs, "Hello World") && strings.Contains(logs, "Server started on port 8081")
	})
	t.Logf("seed flow done in %s; logs:\n%s", time.Since(start).Round(100*time.Millisecond), logs)
}

// TestUserNamespacePod: a pod with hostUsers: false gets a user namespace of
// its own. Inside, /proc/self/uid_map maps the pod's root to an unprivileged
// host UID (not the identity map "0 0 4294967295"); on the node (this
// machine) every process of the pod runs as that UID. A pod without
// hostUsers in the same namespace is the control: identity map, host root.
func TestUserNamespacePod(t *testing.T) {
	rt := kubectl(t, "get", "node", nodeName, "-o", "jsonpath={.status.nodeInfo.containerRuntimeVersion}")
	if rt != "containerd://2.4.2" {
		t.Errorf("containerRuntimeVersion = %q, want containerd://2.4.2", rt)
	}
	handlers := kubectl(t, "get", "node", nodeName, "-o", `jsonpath={range .status.runtimeHandlers[*]}{.name}={.features.userNamespaces}{" "}{end}`)
	// runc 1.5 (the default handler) can; the runc-1-1 handler cannot.
	for _, want := range []string{"=true ", "runc=true ", "runc-1-1=false "} {
		if !strings.HasPrefix(handlers, want) && !strings.Contains(handlers, " "+want) {
			t.Errorf("node runtimeHandlers (name=userNamespaces) %q lack %q", handlers, want)
		}
	}

	ns := namespace(t)
	script := "cat /proc/self/uid_map; exec sleep 3600"
	userns := busyboxPod("userns", ns, script, "app: userns")
	userns = strings.Replace(userns, "spec:\n", "spec:\n  hostUsers: false\n", 1)
	apply(t, userns)
	apply(t, busyboxPod("hostns", ns, script, "app: hostns"))
	waitPodReady(t, ns, "userns", 60*time.Second)
	waitPodReady(t, ns, "hostns", 60*time.Second)

	uidMap := func(pod string) []string {
		out := kubectl(t, "-n", ns, "exec", pod, "--", "cat", "/proc/self/uid_map")
		return strings.Fields(out)
	}
	m := uidMap("userns")
	t.Logf("uid_map in the hostUsers: false pod: %v", m)
	if len(m) != 3 || m[0] != "0" || m[2] != "65536" {
		t.Fatalf("uid_map %v: want one line \"0 <host uid> 65536\"", m)
	}
	if strings.Join(m, " ") == "0 0 4294967295" {
		t.Fatalf("uid_map is the identity map: the pod has no user namespace")
	}
	hostUID, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil || hostUID < 65536 {
		t.Fatalf("uid_map %v maps the pod's root to host UID %s, want an unprivileged UID >= 65536", m, m[1])
	}
	if c := uidMap("hostns"); strings.Join(c, " ") != "0 0 4294967295" {
		t.Errorf("uid_map of the control pod (hostUsers unset) = %v, want the identity map", c)
	}

	assertUIDs := func(pod string, want uint64) {
		uid := strings.TrimSpace(kubectl(t, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}"))
		procs := podProcesses(t, uid)
		// the sandbox's pause process and the container's sleep
		if len(procs) < 2 {
			t.Fatalf("pod %s: %d host processes in its cgroups (%v), want at least 2", pod, len(procs), procs)
		}
		for pid, got := range procs {
			if got != want {
				t.Errorf("pod %s: host process %d runs as UID %d, want %d", pod, pid, got, want)
			}
		}
		t.Logf("pod %s: host processes %v", pod, procs)
	}
	assertUIDs("userns", hostUID)
	assertUIDs("hostns", 0)
}

// podProcesses maps the PID of each host process in the cgroups of the pod
// with the given UID (kubelet's cgroupfs layout: .../pod<uid>/...) to its
// real UID, read from /proc/<pid>/status.
func podProcesses(t *testing.T, podUID string) map[int]uint64 {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := map[int]uint64{}
	for _, d := range dirs {
		cg, err := os.ReadFile(filepath.Join(d, "cgroup"))
		if err != nil || !strings.Contains(string(cg), "/pod"+podUID+"/") {
			continue
		}
		status, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f, ok := strings.CutPrefix(line, "Uid:"); ok {
				uid, err := strconv.ParseUint(strings.Fields(f)[0], 10, 32)
				if err != nil {
					t.Fatalf("%s/status: %q: %v", d, line, err)
				}
				pid, _ := strconv.Atoi(filepath.Base(d))
				out[pid] = uid
			}
		}
	}
	return out
}
