//go:build e2e

// Package e2e runs kbrun's shipped default pipeline, pipelines/kaniko-rootless.yaml,
// end to end with the kbrun binary against a real cluster, and checks what it
// did through the API server.
//
//	KBRUN_TEST_KUBECONFIG=/var/lib/kbrun-cluster/kubeconfig go test -tags e2e ./test/e2e/
//
// The cluster must be able to run the pipeline's defaults: the Kaniko debug
// image, and a registry that pods push to as
// registry.kbrun-registry.svc.cluster.local:5000 and the node pulls from as
// localhost:5000 (test/cluster/ provides both). Without KBRUN_TEST_KUBECONFIG,
// or when the cluster does not answer, the tests FAIL with the reason.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	kubeconfig string
	kbrunBin   string
	repoRoot   string
	pipeline   string
	client     kubernetes.Interface
)

// seedCaps is the pipeline's default capability list (the seed's four).
var seedCaps = []string{"CHOWN", "SETUID", "SETGID", "FOWNER"}

const namespace = "ones"

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: e2e: "+format+"\n", args...)
		return 1
	}
	kubeconfig = os.Getenv("KBRUN_TEST_KUBECONFIG")
	if kubeconfig == "" {
		return fail("KBRUN_TEST_KUBECONFIG is not set: point it at a cluster (test/cluster/up.sh prints one; make test sets it)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fail("KBRUN_TEST_KUBECONFIG=%s: %v", kubeconfig, err)
	}
	cfg.Timeout = 15 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail("client: %v", err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return fail("cluster of KBRUN_TEST_KUBECONFIG=%s does not answer: %v", kubeconfig, err)
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster %s at %s\n", v.GitVersion, cfg.Host)
	client = cs

	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	pipeline = filepath.Join(repoRoot, "pipelines", "kaniko-rootless.yaml")
	tmp, err := os.MkdirTemp("", "kbrun-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	kbrunBin = filepath.Join(tmp, "kbrun")
	build := exec.Command("go", "build", "-o", kbrunBin, "./cmd/kbrun")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fail("go build ./cmd/kbrun: %v\n%s", err, out)
	}
	return m.Run()
}

// event is the part of kbrun's JSON events the tests read.
type event struct {
	Type     string         `json:"type"`
	RunID    string         `json:"runId"`
	Task     string         `json:"task"`
	Status   string         `json:"status"`
	Reason   string         `json:"reason"`
	Error    string         `json:"error"`
	Stream   string         `json:"stream"`
	Line     string         `json:"line"`
	Outputs  map[string]any `json:"outputs"`
	Duration int64          `json:"durationMs"`
	ExitCode *int           `json:"exitCode"`
}

type result struct {
	code     int
	stdout   string
	stderr   string
	events   []event
	ends     map[string]event // task.end by task name
	duration time.Duration
}

// kbrun runs the kbrun binary from the repository root and waits for it.
func kbrun(t *testing.T, args ...string) result {
	t.Helper()
	return kbrunEnv(t, nil, args...)
}

// kbrunEnv is kbrun with extra environment variables (NAME=VALUE).
func kbrunEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args = append(args, "--kubeconfig", kubeconfig)
	cmd := exec.CommandContext(ctx, kbrunBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), ends: map[string]event{}, duration: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kbrun %s: %v", logArgs(args), err)
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue
		}
		r.events = append(r.events, e)
		if e.Type == "task.end" {
			r.ends[e.Task] = e
		}
	}
	t.Logf("kbrun %s: exit %d in %s", logArgs(args), r.code, r.duration.Round(100*time.Millisecond))
	return r
}

// logArgs is a command line for the test log, without the registry
// password and with the CA's PEM shortened.
func logArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch name, _, _ := strings.Cut(a, "="); name {
		case "registryPassword":
			a = name + "=***"
		case "registryCA":
			a = name + "=<PEM>"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// runID is the run's id, from its run.start event.
func (r result) runID() string {
	for _, e := range r.events {
		if e.Type == "run.start" {
			return e.RunID
		}
	}
	return ""
}

// summary is a readable digest of a JSON run for failure messages.
func (r result) summary() string {
	var b strings.Builder
	for _, e := range r.events {
		switch e.Type {
		case "task.end":
			fmt.Fprintf(&b, "  %-20s %-8s %6dms %s %s\n", e.Task, e.Status, e.Duration, e.Reason, e.Error)
		case "task.output", "task.log":
			fmt.Fprintf(&b, "    %s| %s\n", e.Task, e.Line)
		}
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "stderr:\n%s", r.stderr)
	}
	return b.String()
}

// runPipeline runs the default pipeline with -o json and extra args.
func runPipeline(t *testing.T, extra ...string) result {
	t.Helper()
	args := append([]string{"run", pipeline, "-o", "json"}, extra...)
	return kbrun(t, args...)
}

// mustPass checks a run passed with every pipeline step ok.
func mustPass(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("run failed (exit %d):\n%s", r.code, r.summary())
	}
	for _, name := range []string{"podSecurity", "namespace", "builder", "buildProgram", "server", "copy", "build", "test", "logs", "health"} {
		e, ok := r.ends[name]
		if !ok || e.Status != "ok" {
			t.Fatalf("task %s: %+v, want ok\n%s", name, e, r.summary())
		}
	}
	if e := r.ends["logs"]; e.Status != "ok" {
		t.Fatalf("assertLogs: %+v", e)
	}
}

// digest is the digest the build task printed on its last stdout line,
// which is also its digest output.
func digest(t *testing.T, r result) string {
	t.Helper()
	out, _ := r.ends["build"].Outputs["stdout"].(string)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	d, ok := strings.CutPrefix(last, "digest: ")
	if !ok || !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64 {
		t.Fatalf("build stdout's last line is %q, want \"digest: sha256:<64 hex>\" (stdout %q)", last, out)
	}
	if out := r.ends["build"].Outputs["digest"]; out != d {
		t.Fatalf("build's digest output is %v, want %s", out, d)
	}
	return d
}

func podName(t *testing.T, r result, task string) string {
	t.Helper()
	p, _ := r.ends[task].Outputs["pod"].(string)
	if p == "" {
		t.Fatalf("task %s has no pod output: %+v", task, r.ends[task].Outputs)
	}
	return p
}

// assertBuilderPod reads the builder pod back from the API server and checks
// its container's security context: no privileged, no privilege escalation,
// capabilities drop [ALL] and add exactly caps.
func assertBuilderPod(t *testing.T, name string, caps []string) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back builder pod %s/%s: %v", namespace, name, err)
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("builder pod has %d containers and %d init containers, want 1 and 0", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot {
		t.Errorf("builder pod sets runAsNonRoot=true; Kaniko must run as UID 0")
	}
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("builder container %s has no securityContext", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("builder container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("builder container allowPrivilegeEscalation = %v, want false", deref(sc.AllowPrivilegeEscalation))
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("builder container seccompProfile = %v, want RuntimeDefault", sc.SeccompProfile)
	}
	if sc.Capabilities == nil {
		t.Fatalf("builder container has no capabilities")
	}
	if got := capStrings(sc.Capabilities.Drop); !equal(got, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", got)
	}
	if got := capStrings(sc.Capabilities.Add); !equal(got, caps) {
		t.Errorf("capabilities.add = %v, want exactly %v", got, caps)
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/workspace" {
			for _, v := range pod.Spec.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("builder container has no emptyDir at /workspace")
	}
	return pod
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func capStrings(cs []corev1.Capability) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, string(c))
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	a = append([]string(nil), a...)
	b = append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// assertGone checks the run's objects no longer exist.
func assertGone(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range []string{"kaniko-rootless-demo-deployment", "test-kaniko-rootless-deployment"} {
		_, err := client.AppsV1().Deployments(namespace).Get(ctx, d, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("deployment %s/%s after the run: err=%v, want NotFound", namespace, d, err)
		}
	}
	_, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the run: err=%v, want NotFound", namespace, err)
	}
}

// TestDefaultPipelineKeep runs the default pipeline with --keep, reads the
// builder pod and the test pod back from the API server, then runs again
// without --keep over the kept objects: it passes, takes them over (the
// kept run released its lease) and its cleanup deletes them.
func TestDefaultPipelineKeep(t *testing.T) {
	r := runPipeline(t, "--keep")
	mustPass(t, r)
	d := digest(t, r)
	// The Pod Security report: one line per pod template.
	var report []string
	for _, e := range r.events {
		if e.Task == "podSecurity" && e.Line != "" {
			report = append(report, e.Line)
		}
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{
		"Deployment/ones/kaniko-rootless-demo-deployment: baseline (restricted fails:",
		"Deployment/ones/test-kaniko-rootless-deployment: restricted",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("podSecurity report lacks %q:\n%s", want, joined)
		}
	}
	if _, ran := r.ends["cleanup"]; ran && r.ends["cleanup"].Status == "ok" {
		t.Errorf("cleanup ran despite --keep")
	}

	builder := assertBuilderPod(t, podName(t, r, "builder"), seedCaps)
	if builder.Status.Phase != corev1.PodRunning {
		t.Errorf("builder pod phase %s, want Running (kept)", builder.Status.Phase)
	}

	// The node ran the image this run built: pulled from localhost:5000 by
	// the digest the build printed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testPod, err := client.CoreV1().Pods(namespace).Get(ctx, podName(t, r, "test"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back test pod: %v", err)
	}
	if img := testPod.Spec.Containers[0].Image; img != "localhost:5000/new-kaniko-rootless-image@"+d {
		t.Errorf("test pod image %q, want localhost:5000/new-kaniko-rootless-image@%s", img, d)
	}
	if len(testPod.Status.ContainerStatuses) == 0 || !strings.HasSuffix(testPod.Status.ContainerStatuses[0].ImageID, d) {
		t.Errorf("test pod container status %+v does not show image %s", testPod.Status.ContainerStatuses, d)
	}

	// A later run over the kept objects passes, with a new builder pod.
	r2 := runPipeline(t)
	mustPass(t, r2)
	if p2 := podName(t, r2, "builder"); p2 == builder.Name {
		t.Errorf("second run reused builder pod %s; it must be fresh", p2)
	}
	if d2 := digest(t, r2); d2 == "" {
		t.Errorf("no digest in the second run")
	}
	if e := r2.ends["cleanup"]; e.Status != "ok" {
		t.Errorf("cleanup: %+v", e)
	}
	// The kept run released its lease: the second run took its objects
	// over, and its cleanup deleted them with the namespace.
	var log []string
	for _, e := range r2.events {
		if e.Line != "" && (e.Task == "namespace" || e.Task == "builder" || e.Task == "test" || e.Task == "cleanup") {
			log = append(log, e.Line)
		}
	}
	joined = strings.Join(log, "\n")
	for _, want := range []string{
		"namespace " + namespace + " was left by run " + r.runID() + ", which is gone (it ended",
		"deployment " + namespace + "/kaniko-rootless-demo-deployment was left by run " + r.runID(),
		"deployment " + namespace + "/test-kaniko-rootless-deployment was left by run " + r.runID(),
		"deleted deployment " + namespace + "/kaniko-rootless-demo-deployment",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("the second run's log lacks %q:\n%s", want, joined)
		}
	}
	assertGone(t)
}

// TestTwiceInARow: the pipeline is idempotent from nothing.
func TestTwiceInARow(t *testing.T) {
	for i := 1; i <= 2; i++ {
		r := runPipeline(t)
		mustPass(t, r)
		digest(t, r)
		assertGone(t)
	}
}

// TestMultistageNeedsDacOverride: a multi-stage build under the seed's four
// capabilities fails in the build task quoting Kaniko's error (not a
// timeout); with DAC_OVERRIDE added it passes, and the builder pod then has
// exactly the five.
func TestMultistageNeedsDacOverride(t *testing.T) {
	// Text output, as a person reads it.
	r := kbrun(t, "run", pipeline, "--set", "dockerfile=multistage")
	all := r.stdout + r.stderr
	if r.code != 1 {
		t.Fatalf("multistage under the seed's capabilities: exit %d, want 1\n%s", r.code, all)
	}
	// The failure names the task ("✗ 11 build failed after ...") and the
	// error under it quotes Kaniko.
	lines := strings.Split(all, "\n")
	var failure string
	for i, line := range lines {
		if !strings.Contains(line, " build failed after ") {
			continue
		}
		for _, l := range lines[i:min(len(lines), i+30)] {
			if strings.Contains(l, "Kaniko failed") && strings.Contains(l, "permission denied") {
				failure = line + "\n" + l
				break
			}
		}
		break
	}
	if failure == "" {
		t.Fatalf("no \"build failed\" line followed by Kaniko's \"permission denied\":\n%s", all)
	}
	t.Logf("failure:\n%s", failure)
	for _, generic := range []string{"deadline exceeded", "timed out", "timeout of"} {
		if strings.Contains(strings.ToLower(failure), generic) {
			t.Errorf("failure is a generic timeout: %s", failure)
		}
	}
	// The JSON view agrees: the build task failed with Kaniko's error, the
	// later tasks did not run, cleanup did.
	rj := runPipeline(t, "--set", "dockerfile=multistage")
	if rj.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", rj.code, rj.summary())
	}
	b := rj.ends["build"]
	if b.Status != "failed" || !strings.Contains(b.Error, "permission denied") || !strings.Contains(b.Error, "Kaniko failed") {
		t.Errorf("build task end %+v, want failed quoting Kaniko's permission denied", b)
	}
	if e, ok := rj.ends["test"]; ok && e.Status == "ok" {
		t.Errorf("test task ran after the failed build")
	}
	if e := rj.ends["cleanup"]; e.Status != "ok" {
		t.Errorf("cleanup after failure: %+v", e)
	}
	assertGone(t)

	caps := append(append([]string(nil), seedCaps...), "DAC_OVERRIDE")
	ok := runPipeline(t, "--set", "dockerfile=multistage", "--set", "capabilities=["+strings.Join(caps, ",")+"]", "--keep")
	mustPass(t, ok)
	digest(t, ok)
	assertBuilderPod(t, podName(t, ok, "builder"), caps)
	// Clean up what --keep left (a later run would leave it: it existed).
	relDeleteNamespace(t, namespace)
	assertGone(t)
}

// TestPodSecurityStopsPrivilegedBuilder: a capability outside baseline makes
// the builder privileged-level; validation refuses it at the podSecurity
// task's require (exit 2), before any task runs or anything is applied.
func TestPodSecurityStopsPrivilegedBuilder(t *testing.T) {
	r := runPipeline(t, "--set", "capabilities=[CHOWN,SETUID,SETGID,FOWNER,SYS_ADMIN]")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.summary())
	}
	if !strings.Contains(r.stderr, "podSecurity.require") || !strings.Contains(r.stderr, "SYS_ADMIN needs Pod Security level privileged") {
		t.Errorf("stderr does not name the require and SYS_ADMIN's level:\n%s", r.stderr)
	}
	for name, e := range r.ends {
		t.Errorf("task %s ran (%s) although the pipeline was refused", name, e.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.AppsV1().Deployments(namespace).Get(ctx, "kaniko-rootless-demo-deployment", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("builder deployment exists after the failed check: %v", err)
	}
}

// TestDeployRegistryMode: "deploy a registry for me" on a free node port
// (the harness's registry holds :5000): the run deploys a hostNetwork
// registry behind a Service, pushes through the Service, the node pulls from
// localhost:<port>, and cleanup removes the registry too.
func TestDeployRegistryMode(t *testing.T) {
	const port = "5001"
	r := runPipeline(t,
		"--set", "deployRegistry=true",
		"--set", "registryPort="+port,
		"--set", "registryImage=kbrun.local/registry:3.1.2",
		"--set", "pushRegistry=registry.kaniko-registry.svc.cluster.local:"+port,
		"--set", "pullRegistry=localhost:"+port)
	mustPass(t, r)
	for _, name := range []string{"registryPodSecurity", "registry"} {
		if e := r.ends[name]; e.Status != "ok" {
			t.Errorf("task %s: %+v", name, e)
		}
	}
	images := fmt.Sprint(r.ends["test"].Outputs["images"])
	if !strings.Contains(images, "localhost:"+port+"/new-kaniko-rootless-image@"+digest(t, r)) {
		t.Errorf("test images %s do not pull from localhost:%s by digest", images, port)
	}
	assertGone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Get(ctx, "kaniko-registry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("registry namespace after the run: %v, want NotFound", err)
	}
}
