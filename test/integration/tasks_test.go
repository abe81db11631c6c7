//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

const builderManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: builder
  labels: {app: builder}
spec:
  replicas: 1
  selector: {matchLabels: {app: builder}}
  template:
    metadata: {labels: {app: builder}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: work
        image: {{ .vars.image }}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
        workingDir: /workspace
        volumeMounts: [{name: ws, mountPath: /workspace}]
      volumes: [{name: ws, emptyDir: {}}]
`

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: kbrun.local/busybox:1.35
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo 'Hello World'; echo 'Server started on port 8081'; trap 'exit 0' TERM; while true; do sleep 1; done"]
`

// The seed flow, end to end with real containers: deploy a builder from a
// manifest file rendered as a template, copy two files into it (one
// executable, one into a folder that does not exist yet), run the program,
// deploy another workload, check its two log lines, wait, clean up.
func TestSeedFlow(t *testing.T) {
	ns := namespace(t)
	applied := &kube.AppliedSet{}
	env := newEnv(t, ns, applied)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "builder.yaml"), []byte(builderManifest), 0o644)
	demo := "#!/bin/sh\necho \"built from $(wc -c < /workspace/server/main) bytes\"\n"
	os.WriteFile(filepath.Join(dir, "demo"), []byte(demo), 0o755)
	os.MkdirAll(filepath.Join(dir, "server"), 0o755)
	os.WriteFile(filepath.Join(dir, "server", "main"), bytes.Repeat([]byte("0123456789"), 100000), 0o640)

	out := mustRun(t, env, "deploy", 90*time.Second, map[string]any{"files": []any{filepath.Join(dir, "builder.yaml")}})
	builder := out["pod"].(string)
	if !strings.HasPrefix(builder, "builder-") || fmt.Sprint(out["images"]) != "[kbrun.local/busybox:1.35]" || out["namespace"] != ns {
		t.Fatalf("deploy outputs %v", out)
	}

	out = mustRun(t, env, "copy", 60*time.Second, map[string]any{"pod": builder, "files": []any{
		map[string]any{"from": filepath.Join(dir, "demo"), "to": "/workspace/kaniko-rootless-demo"},
		map[string]any{"from": filepath.Join(dir, "server", "main"), "to": "/workspace/server/main"},
	}})
	if out["bytes"].(int64) != int64(1000000+len(demo)) {
		t.Fatalf("copy outputs %v", out)
	}
	t.Logf("copy attempts: %v", out["attempts"])

	out = mustRun(t, env, "exec", 30*time.Second, map[string]any{"pod": builder, "command": []any{"/workspace/kaniko-rootless-demo"}})
	if out["stdout"] != "built from 1000000 bytes" {
		t.Fatalf("exec outputs %v", out)
	}
	out = mustRun(t, env, "exec", 30*time.Second, map[string]any{"selector": "app=builder", "command": []any{"stat", "-c", "%a %s", "/workspace/kaniko-rootless-demo", "/workspace/server/main"}})
	if out["stdout"] != fmt.Sprintf("755 %d\n640 1000000", len(demo)) {
		t.Fatalf("modes and sizes: %q", out["stdout"])
	}
	out = mustRun(t, env, "exec", 30*time.Second, map[string]any{"pod": builder, "command": []any{"sh", "-c", "tr a-z A-Z; echo to-stderr >&2"}, "stdin": "hello via stdin\n"})
	if out["stdout"] != "HELLO VIA STDIN" || out["stderr"] != "to-stderr" {
		t.Fatalf("stdin exec: %v", out)
	}

	out = mustRun(t, env, "deploy", 90*time.Second, map[string]any{"manifest": webManifest})
	web := out["pod"].(string)
	out = mustRun(t, env, "assertLogs", 30*time.Second, map[string]any{"pod": web, "contains": []any{"Hello World", "Server started on port 8081"}, "inOrder": true, "absent": []any{"panic"}})
	if fmt.Sprint(out["lines"]) != "[Hello World Server started on port 8081]" {
		t.Fatalf("assertLogs outputs %v", out)
	}
	mustRun(t, env, "wait", 30*time.Second, map[string]any{"kind": "deploy", "name": "web", "condition": "Available"})
	mustRun(t, env, "wait", 30*time.Second, map[string]any{"kind": "pods", "selector": "app=web", "jsonpath": "{.status.phase}", "value": "Running"})

	if n := len(applied.List()); n != 2 {
		t.Fatalf("applied set has %d objects", n)
	}
	out = mustRun(t, env, "delete", 60*time.Second, map[string]any{"applied": true})
	if fmt.Sprint(out["deleted"]) != fmt.Sprintf("[Deployment/%s/web Deployment/%s/builder]", ns, ns) {
		t.Fatalf("deleted %v", out["deleted"])
	}
	if len(applied.List()) != 0 {
		t.Fatal("applied set not emptied")
	}
	// Deleting again: NotFound is success.
	mustRun(t, env, "delete", 30*time.Second, map[string]any{"kind": "deployment", "name": "web"})
}

func TestApplyCRDBeforeCRAndForce(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	group := "it" + strings.ReplaceAll(ns, "-", "") + ".kbrun.dev"
	crd := fmt.Sprintf(`apiVersion: it.example/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%[1]s}
spec:
  group: %[1]s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, group)
	crd = strings.Replace(crd, "it.example/v1", group+"/v1", 1)
	t.Cleanup(func() {
		clients.Dynamic.Resource(crdGVR).Delete(context.Background(), "widgets."+group, metav1.DeleteOptions{})
	})
	out := mustRun(t, env, "apply", 60*time.Second, map[string]any{"manifest": crd})
	objs := out["objects"].([]any)
	if len(objs) != 2 || objs[0].(map[string]any)["kind"] != "CustomResourceDefinition" || objs[1].(map[string]any)["namespace"] != ns || objs[1].(map[string]any)["uid"] == "" {
		t.Fatalf("objects %v", objs)
	}
	// Another manager takes a field; kbrun's apply conflicts unless forced.
	cm := `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {k: kbrun}
`
	mustRun(t, env, "apply", 30*time.Second, map[string]any{"manifest": cm})
	_, err := clients.Typed.CoreV1().ConfigMaps(ns).Patch(context.Background(), "c", "application/apply-patch+yaml",
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"other"}}`), metav1.PatchOptions{FieldManager: "someone-else", Force: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(t, env, "apply", 30*time.Second, map[string]any{"manifest": cm})
	contains(t, err, "conflict", "force: true")
	if task.IsRetryable(err) {
		t.Error("a field-manager conflict is not transient")
	}
	mustRun(t, env, "apply", 30*time.Second, map[string]any{"manifest": cm, "force": true})
}

func TestExecNonZeroExit(t *testing.T) {
	ns := namespace(t)
	p := pod(t, ns, "x", sleeper("main", busybox))
	env := newEnv(t, ns, nil)
	out, err := run(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"sh", "-c", "for i in $(seq 1 40); do echo step $i; done; echo 'fatal: broken' >&2; exit 7"}})
	contains(t, err, "sh in "+ns+"/x exited with code 7, expected 0", "last output:", "step 40", "fatal: broken")
	if strings.Contains(err.Error(), "step 5\n") {
		t.Error("the tail is not a tail")
	}
	if out["exitCode"] != 7 {
		t.Fatalf("exitCode %v", out["exitCode"])
	}
	mustRun(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"sh", "-c", "exit 7"}, "expectExitCode": 7})
	_, err = run(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"/no/such/program"}})
	contains(t, err, "/no/such/program")
	// The task timeout stops the stream.
	start := time.Now()
	_, err = run(t, env, "exec", 2*time.Second, map[string]any{"pod": p.Name, "command": []any{"sh", "-c", "echo started; sleep 60"}})
	contains(t, err, "context deadline exceeded")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestCopyMissingTar(t *testing.T) {
	ns := namespace(t)
	p := pod(t, ns, "notar", corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: pause}}})
	env := newEnv(t, ns, nil)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("x"), 0o644)
	_, err := run(t, env, "copy", 30*time.Second, map[string]any{"pod": p.Name, "files": []any{map[string]any{"from": f, "to": "/tmp/f"}}})
	contains(t, err, "container pause of pod "+ns+"/notar has neither sh nor tar")
	if task.IsRetryable(err) {
		t.Error("a missing tar is not transient")
	}
	// (A shell without tar cannot be staged with the images here: busybox
	// sh runs its own tar applet whatever PATH says. The probe's exit-3
	// path is covered by the unit tests.)
}

// evilTar is what a malicious tar binary in the container sends back.
func evilTar(entries ...[3]string) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e[0], Mode: 0o644}
		switch e[1] {
		case "symlink":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e[2]
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e[2]))
		}
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e[2]))
		}
	}
	tw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// The kubectl cp CVEs, replayed against a real container: a malicious tar
// binary (first in PATH) and real symlinks in the container's file system.
func TestCopyFromPodTraversal(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	cases := map[string]string{
		"CVE-2019-1002101": evilTar([3]string{"data/../../../escaped-1002101", "file", "pwned"}),
		"CVE-2019-11246":   evilTar([3]string{"data/link", "symlink", "../../.."}, [3]string{"data/link/escaped-11246", "file", "pwned"}),
		"CVE-2019-11249":   evilTar([3]string{"data-evil/escaped-11249", "file", "pwned"}),
		"CVE-2019-11251":   evilTar([3]string{"data/up", "symlink", "."}, [3]string{"data/esc", "symlink", "up/.."}),
	}
	i := 0
	for name, archive := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			script := `mkdir -p /evil /data; echo "$EVIL" | base64 -d > /evil/archive.tar
printf '#!/bin/sh\ncase "$1" in -c*) exec cat /evil/archive.tar;; esac\nexec /bin/tar "$@"\n' > /evil/tar; chmod +x /evil/tar
trap 'exit 0' TERM; while true; do sleep 1; done`
			p := pod(t, ns, fmt.Sprintf("evil-%d", i), corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: busybox,
				Command: []string{"sh", "-c", script},
				Env:     []corev1.EnvVar{{Name: "PATH", Value: "/evil:/bin:/usr/bin"}, {Name: "EVIL", Value: archive}}}}})
			parent := t.TempDir()
			// The destination holds a file already: a refused copy leaves
			// it exactly as it was (the archive is unpacked aside first).
			if err := os.MkdirAll(filepath.Join(parent, "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(parent, "data", "keep"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := run(t, env, "copy", 30*time.Second, map[string]any{"pod": p.Name, "download": []any{map[string]any{"from": "/data", "to": filepath.Join(parent, "data")}}})
			contains(t, err, "unsafe archive entry")
			if task.IsRetryable(err) {
				t.Errorf("a refused archive is retryable: %v", err)
			}
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.Name() != "data" {
					t.Errorf("written outside the destination: %s", e.Name())
				}
			}
			inside, _ := os.ReadDir(filepath.Join(parent, "data"))
			if b, _ := os.ReadFile(filepath.Join(parent, "data", "keep")); len(inside) != 1 || string(b) != "mine" {
				t.Errorf("the destination changed: %d entries, keep = %q", len(inside), b)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(parent), "escaped-1002101")); err == nil {
				t.Error("escaped above the destination")
			}
		})
	}
	t.Run("real symlink to /etc", func(t *testing.T) {
		p := pod(t, ns, "links", corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: busybox,
			Command: []string{"sh", "-c", "mkdir -p /data/sub; echo ok > /data/sub/f; ln -s sub/f /data/good; ln -s /etc/passwd /data/bad; trap 'exit 0' TERM; while true; do sleep 1; done"}}}})
		dest := filepath.Join(t.TempDir(), "data")
		_, err := run(t, env, "copy", 30*time.Second, map[string]any{"pod": p.Name, "download": []any{map[string]any{"from": "/data", "to": dest}}})
		contains(t, err, "unsafe archive entry", "absolute")
		// Without the bad link the copy works and keeps the good one.
		mustRun(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"rm", "/data/bad"}})
		dest = filepath.Join(t.TempDir(), "data")
		mustRun(t, env, "copy", 30*time.Second, map[string]any{"pod": p.Name, "download": []any{map[string]any{"from": "/data", "to": dest}}})
		if b, err := os.ReadFile(filepath.Join(dest, "good")); err != nil || string(b) != "ok\n" {
			t.Fatalf("%q %v", b, err)
		}
	})
}

func TestDeployImagePullBackOffFailsFast(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	start := time.Now()
	_, err := run(t, env, "deploy", 90*time.Second, map[string]any{"manifest": `apiVersion: apps/v1
kind: Deployment
metadata: {name: ghost}
spec:
  selector: {matchLabels: {app: ghost}}
  template:
    metadata: {labels: {app: ghost}}
    spec:
      containers:
      - {name: app, image: "kbrun.local/does-not-exist:0.0.1", imagePullPolicy: IfNotPresent}
`})
	took := time.Since(start)
	contains(t, err, "deployment "+ns+"/ghost cannot roll out: pod "+ns+"/ghost-", "container app is stuck in", "kbrun.local/does-not-exist:0.0.1", "latest events of the pod:")
	if !strings.Contains(err.Error(), "ErrImagePull") && !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Errorf("no pull reason in %v", err)
	}
	if took > 60*time.Second {
		t.Errorf("not fast: %v", took)
	}
	t.Logf("failed after %v", took)
}

func TestDeployCrashLoopFailsFast(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	crash := `apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: kbrun.local/busybox:1.35
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo 'config missing'; exit 3"]
`
	// With a readiness probe the crashing pod never looks ready.
	probed := strings.ReplaceAll(crash, "NAME", "probed") + "        readinessProbe: {exec: {command: [\"true\"]}, periodSeconds: 1}\n"
	// Without one it is "available" for an instant, as kubectl rollout
	// status would see it too; stableFor catches it.
	bare := strings.ReplaceAll(crash, "NAME", "bare")
	for _, c := range []struct {
		name   string
		params map[string]any
	}{
		{"probed", map[string]any{"manifest": probed}},
		{"bare", map[string]any{"manifest": bare, "stableFor": "20s"}},
	} {
		start := time.Now()
		_, err := run(t, env, "deploy", 120*time.Second, c.params)
		took := time.Since(start)
		contains(t, err, "deployment "+ns+"/"+c.name+" cannot roll out", "container app is stuck in CrashLoopBackOff", "last exit code 3", "latest events of the pod:")
		if took > 90*time.Second {
			t.Errorf("not fast: %v", took)
		}
		t.Logf("%s: failed after %v", c.name, took)
	}
}

func TestDeployRolloutTimeoutMessage(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	_, err := run(t, env, "deploy", 8*time.Second, map[string]any{"manifest": `apiVersion: apps/v1
kind: Deployment
metadata: {name: never}
spec:
  selector: {matchLabels: {app: never}}
  template:
    metadata: {labels: {app: never}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: kbrun.local/busybox:1.35
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
        readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
`})
	contains(t, err, "deployment "+ns+"/never was not rolled out before the task timeout: Waiting for deployment \"never\" rollout to finish: 0 of 1 updated replicas are available", "context deadline exceeded", "pods:", "Running, not Ready, app running, not ready", "Unhealthy")
}

func TestAssertLogsUnmetShowsTail(t *testing.T) {
	ns := namespace(t)
	p := pod(t, ns, "talker", corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: busybox,
		Command: []string{"sh", "-c", "for i in $(seq 1 80); do echo line $i; done; echo 'Server started on port 9090'; trap 'exit 0' TERM; while true; do sleep 1; done"}}}})
	env := newEnv(t, ns, nil)
	start := time.Now()
	_, err := run(t, env, "assertLogs", 3*time.Second, map[string]any{"pod": p.Name, "contains": []any{"line 80", "Hello World"}, "matches": []any{`port 8081$`}})
	contains(t, err, "did not meet expectations: timed out", "never seen:\n  - a line containing \"Hello World\"\n  - a line matching \"port 8081$\"", "last 50 of 81 lines:", "| line 32\n", "| Server started on port 9090")
	if strings.Contains(err.Error(), `"line 80"`) {
		t.Error("met expectation reported unmet")
	}
	if time.Since(start) > 6*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	_, err = run(t, env, "assertLogs", 10*time.Second, map[string]any{"pod": p.Name, "contains": []any{"Hello"}, "absent": []any{"line 42"}})
	contains(t, err, `line 42 contains "line 42", which must be absent`)
}

func TestAssertLogsAcrossRestarts(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	zero := int64(0)
	_, err := clients.Typed.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "restarter"}, Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: &zero,
		Containers: []corev1.Container{{Name: "app", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
			Command:      []string{"sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo instance $n; sleep 1; [ $n -ge 2 ] && { echo settled; sleep 3600; }; exit 1"},
			VolumeMounts: []corev1.VolumeMount{{Name: "d", MountPath: "/d"}}}},
		Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		p, err := clients.Typed.CoreV1().Pods(ns).Get(context.Background(), "restarter", metav1.GetOptions{})
		return err == nil && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	out := mustRun(t, env, "assertLogs", 60*time.Second, map[string]any{"pod": "restarter", "contains": []any{"instance 1", "instance 2", "settled"}, "inOrder": true})
	t.Logf("lines %v count %v", out["lines"], out["count"])
}

func TestWaitAndDeleteBySelector(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	for _, n := range []string{"a", "b"} {
		pod(t, ns, n, sleeper("main", busybox))
	}
	mustRun(t, env, "wait", 30*time.Second, map[string]any{"kind": "pod", "selector": "it", "condition": "Ready"})
	_, err := run(t, env, "wait", 2*time.Second, map[string]any{"kind": "pods", "name": "a", "jsonpath": "{.status.phase}", "value": "Succeeded"})
	contains(t, err, "timed out waiting until pods "+ns+"/a has {.status.phase} = \"Succeeded\"", `now: a: {.status.phase} = "Running"`)
	_, err = run(t, env, "wait", 10*time.Second, map[string]any{"kind": "nosuchkind", "name": "a", "condition": "Ready"})
	contains(t, err, `the cluster has no resource type "nosuchkind"`)
	out := mustRun(t, env, "delete", 60*time.Second, map[string]any{"kind": "po", "selector": "it"})
	if len(out["deleted"].([]any)) != 2 {
		t.Fatalf("deleted %v", out)
	}
	mustRun(t, env, "wait", 10*time.Second, map[string]any{"kind": "pod", "name": "a", "delete": true})
}

func TestForbiddenIsFatalAndNamed(t *testing.T) {
	ns := namespace(t)
	env := newEnv(t, ns, nil)
	// Impersonate a user with no rights.
	flags := genericclioptions.NewConfigFlags(true)
	user := "nobody-" + ns
	flags.KubeConfig, flags.Impersonate = &kubeconfig, &user
	env.Kube = kube.NewFlagsProvider(flags)
	_, err := run(t, env, "apply", 20*time.Second, map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
	contains(t, err, "forbidden: kbrun's user may not apply configmap "+ns+"/c")
	if task.IsRetryable(err) {
		t.Error("forbidden must be fatal")
	}
}

func ptr[T any](v T) *T { return &v }

// A command that exits without reading its stdin must not hang the task
// (kubectl exec -i waits for an i/o timeout in that case here).
func TestExecStdinNotRead(t *testing.T) {
	ns := namespace(t)
	p := pod(t, ns, "x", sleeper("main", busybox))
	env := newEnv(t, ns, nil)
	start := time.Now()
	out, err := run(t, env, "exec", 30*time.Second, map[string]any{"pod": p.Name, "command": []any{"sh", "-c", "exit 4"}, "stdin": strings.Repeat("x", 64<<20)})
	if out["exitCode"] != 4 {
		t.Fatalf("exit code %v, err %v", out["exitCode"], err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	t.Logf("returned after %v", time.Since(start))
}

// Cleanup deletes what the run created and leaves what it found: a
// ConfigMap that existed before is applied (updated) but survives
// `delete: {applied: true}`; the one the run created is gone.
func TestDeleteAppliedLeavesWhatExisted(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	found := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "found", Namespace: ns}, Data: map[string]string{"owner": "team"}}
	if _, err := clients.Typed.CoreV1().ConfigMaps(ns).Create(ctx, found, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applied := &kube.AppliedSet{}
	env := newEnv(t, ns, applied)
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: found}\ndata: {touched: \"yes\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: created}\n"
	out := mustRun(t, env, "apply", 30*time.Second, map[string]any{"manifest": manifest})
	var created []string
	for _, o := range out["objects"].([]any) {
		m := o.(map[string]any)
		created = append(created, fmt.Sprintf("%s=%v", m["name"], m["created"]))
	}
	if fmt.Sprint(created) != "[found=false created=true]" {
		t.Fatalf("apply outputs: %v", created)
	}
	out = mustRun(t, env, "delete", 60*time.Second, map[string]any{"applied": true})
	if fmt.Sprint(out["deleted"]) != fmt.Sprintf("[ConfigMap/%s/created]", ns) {
		t.Fatalf("deleted %v", out["deleted"])
	}
	cm, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "found", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the ConfigMap that existed before the run: %v", err)
	}
	if cm.Data["owner"] != "team" || cm.Data["touched"] != "yes" {
		t.Fatalf("found: data %v (want the team's key kept and the run's update applied)", cm.Data)
	}
	if _, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "created", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the ConfigMap the run created: %v, want NotFound", err)
	}
	if len(applied.List()) != 0 {
		t.Fatalf("applied set keeps %v", applied.List())
	}
}
