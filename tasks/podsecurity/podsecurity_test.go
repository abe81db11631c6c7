package podsecurity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/task"
)

const privilegedPod = `apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: ns1}
spec:
  containers:
  - name: c
    image: busybox
    securityContext: {privileged: true}
`

const baselinePod = `apiVersion: v1
kind: Pod
metadata: {name: base}
spec:
  containers:
  - name: c
    image: busybox
`

const restrictedJob = `apiVersion: batch/v1
kind: Job
metadata: {name: strict, namespace: ns1}
spec:
  template:
    spec:
      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: c
        image: busybox
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
`

const cronJobHostNet = `apiVersion: batch/v1
kind: CronJob
metadata: {name: cron, namespace: ns1}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          hostNetwork: true
          restartPolicy: Never
          containers:
          - {name: c, image: busybox}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-pod}
data: {a: b}
`

// pipelineVars are the default vars of the shipped pipeline that its
// manifests use (kept small: the manifests fail loudly on a missing key).
func pipelineData(caps []any) map[string]any {
	return map[string]any{
		"vars": map[string]any{
			"namespace": "ones", "builderName": "kaniko-rootless-demo-deployment",
			"testName": "test-kaniko-rootless-deployment", "kanikoImage": "gcr.io/kaniko-project/executor:v1.24.0-debug",
			"kanikoImagePullPolicy": "IfNotPresent", "capabilities": caps,
			"userNamespace": false, "runtimeClassName": "", "builderNode": "", "testNode": "", "authSecret": "", "registryCA": "",
			"pullRegistry": "localhost:5000", "imageRepository": "demo", "imageTag": "t1",
			"registryNamespace": "kaniko-registry", "registryImage": "registry:3", "registryPort": 5000,
		},
		"pipeline": map[string]any{"runId": "20000101000000-0000", "name": "kaniko-rootless"},
		"tasks":    map[string]any{},
	}
}

// usernsData is pipelineData with the builder in a user namespace.
func usernsData(caps []any) map[string]any {
	d := pipelineData(caps)
	d["vars"].(map[string]any)["userNamespace"] = true
	return d
}

func run(t *testing.T, dir string, params map[string]any, data map[string]any) (task.Outputs, []string, error) {
	t.Helper()
	a, err := Type{}.Prepare(task.Params{Value: params, Dir: dir, Rendered: true, Manifests: prepare.Reader(dir, data)})
	if err != nil {
		return nil, nil, err
	}
	var lines []string
	env := &task.Env{
		Task:      "podSecurity",
		Namespace: "default-ns",
		Logf:      func(f string, args ...any) { lines = append(lines, fmt.Sprintf(f, args...)) },
	}
	out, err := a.Run(context.Background(), env)
	return out, lines, err
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestLevels(t *testing.T) {
	dir := t.TempDir()
	shipped, err := filepath.Abs(filepath.Join("..", "..", "pipelines", "kaniko-rootless"))
	if err != nil {
		t.Fatal(err)
	}
	seedCaps := []any{"CHOWN", "SETUID", "SETGID", "FOWNER"}
	cases := []struct {
		name    string
		file    string // absolute or relative to dir
		data    map[string]any
		require string
		object  string
		want    string
		wantErr string
		line    string
	}{
		{name: "privileged pod", file: write(t, dir, "priv.yaml", privilegedPod), object: "Pod/ns1/priv", want: "privileged", line: "baseline fails: privileged (container \"c\" must not set securityContext.privileged=true)"},
		{name: "privileged pod below baseline", file: "priv.yaml", require: "baseline", object: "Pod/ns1/priv", want: "privileged", wantErr: "Pod/ns1/priv ("},
		{name: "baseline pod, default namespace", file: write(t, dir, "base.yaml", baselinePod), require: "baseline", object: "Pod/default-ns/base", want: "baseline", line: "restricted fails: allowPrivilegeEscalation != false"},
		{name: "baseline pod below restricted", file: "base.yaml", require: "restricted", object: "Pod/default-ns/base", want: "baseline", wantErr: "below the required restricted"},
		{name: "restricted job", file: write(t, dir, "job.yaml", restrictedJob), require: "restricted", object: "Job/ns1/strict", want: "restricted"},
		{name: "cronjob with hostNetwork", file: write(t, dir, "cron.yaml", cronJobHostNet), object: "CronJob/ns1/cron", want: "privileged", line: "host namespaces (hostNetwork=true)"},
		{name: "shipped builder", file: filepath.Join(shipped, "builder.yaml"), data: pipelineData(seedCaps), require: "baseline",
			object: "Deployment/ones/kaniko-rootless-demo-deployment", want: "baseline", line: "runAsNonRoot != true"},
		// hostUsers: false lifts restricted's runAsNonRoot/runAsUser rules:
		// only the capabilities keep the builder baseline, and without any
		// it is restricted.
		{name: "shipped builder in a user namespace", file: filepath.Join(shipped, "builder.yaml"), data: usernsData(seedCaps), require: "baseline",
			object: "Deployment/ones/kaniko-rootless-demo-deployment", want: "baseline", line: "baseline (restricted fails: unrestricted capabilities (container \"kaniko\" must not include \"CHOWN\", \"FOWNER\", \"SETGID\", \"SETUID\" in securityContext.capabilities.add)); required"},
		{name: "shipped builder in a user namespace without capabilities", file: filepath.Join(shipped, "builder.yaml"), data: usernsData([]any{}), require: "restricted",
			object: "Deployment/ones/kaniko-rootless-demo-deployment", want: "restricted"},
		{name: "shipped test deployment", file: filepath.Join(shipped, "test-deployment.yaml"), data: pipelineData(seedCaps), require: "restricted",
			object: "Deployment/ones/test-kaniko-rootless-deployment", want: "restricted"},
		{name: "shipped registry", file: filepath.Join(shipped, "registry.yaml"), data: pipelineData(seedCaps),
			object: "Deployment/kaniko-registry/registry", want: "privileged", line: "hostNetwork=true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := map[string]any{"files": []any{c.file}}
			if c.require != "" {
				params["require"] = c.require
			}
			data := c.data
			if data == nil {
				data = map[string]any{}
			}
			out, lines, err := run(t, dir, params, data)
			if c.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, c.wantErr)
			}
			levels, _ := out["levels"].(map[string]any)
			if got := levels[c.object]; got != c.want {
				t.Fatalf("levels[%s] = %v, want %s (levels: %v)", c.object, got, c.want, levels)
			}
			joined := strings.Join(lines, "\n")
			if !strings.Contains(joined, c.object+": "+c.want) {
				t.Errorf("log lines %q lack %q", joined, c.object+": "+c.want)
			}
			if c.line != "" && !strings.Contains(joined, c.line) {
				t.Errorf("log lines %q lack %q", joined, c.line)
			}
		})
	}
}

func TestExceptionAndLowest(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "priv.yaml", privilegedPod)
	write(t, dir, "base.yaml", baselinePod)
	params := map[string]any{
		"files":      []any{"priv.yaml", "base.yaml"},
		"require":    "baseline",
		"exceptions": []any{map[string]any{"kind": "Pod", "name": "priv", "require": "privileged"}},
	}
	out, _, err := run(t, dir, params, nil)
	if err != nil {
		t.Fatalf("exception not honoured: %v", err)
	}
	if out["lowest"] != "privileged" {
		t.Errorf("lowest = %v", out["lowest"])
	}
}

func TestDirectoryAndRenderOff(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "m")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, sub, "a.yaml", baselinePod)
	// {{ nope }} would fail if rendered: an unknown function.
	write(t, sub, "b.yml", strings.Replace(restrictedJob, "name: strict", "name: strict, annotations: {note: \"{{ nope }}\"}", 1))
	out, _, err := run(t, dir, map[string]any{"files": []any{"m"}, "render": false}, nil)
	if err != nil {
		t.Fatal(err)
	}
	levels := out["levels"].(map[string]any)
	if len(levels) != 2 || levels["Job/ns1/strict"] != "restricted" {
		t.Errorf("levels = %v", levels)
	}
}

func TestPrepareErrors(t *testing.T) {
	for _, params := range []map[string]any{
		{"files": []any{"x.yaml"}, "require": "strict"},
		{"files": []any{"x.yaml"}, "version": "1.30"},
		{"files": []any{"x.yaml"}, "exceptions": []any{map[string]any{"name": "a", "require": "nope"}}},
		{"files": []any{}},
	} {
		if _, err := (Type{}).Prepare(task.Params{Value: params, Dir: ".", Rendered: true}); err == nil {
			t.Errorf("Prepare(%v) succeeded", params)
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	errs := Type{}.Check(task.Params{Value: map[string]any{"files": []any{"nope.yaml", "{{ .vars.f }}"}}, Dir: t.TempDir()})
	if len(errs) != 1 || errs[0].Path[0] != "files" || errs[0].Path[1] != "0" {
		t.Fatalf("Check = %v", errs)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n")
	a, err := Type{}.Prepare(task.Params{Value: map[string]any{"files": []any{"b.yaml"}, "require": "baseline", "version": "v1.30"}, Dir: dir, Rendered: true, Manifests: prepare.Reader(dir, nil)})
	if err != nil {
		t.Fatal(err)
	}
	want := "check Pod Security Standards levels (v1.30) of the pod templates in b.yaml, require baseline"
	if got := a.Describe(); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

// TestCapabilitiesAboveRequired: a container that adds a capability above
// the required level is refused when the task is prepared (validate), at
// the require that sets the level, naming the level the capability needs;
// an exception that allows it (privileged) and a capability within the
// level pass.
func TestCapabilitiesAboveRequired(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "caps.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: builder}
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers:
      - name: b
        image: busybox
        securityContext: {capabilities: {add: [CHOWN, SYS_ADMIN]}}
`)
	prep := func(params map[string]any) error {
		_, err := Type{}.Prepare(task.Params{Value: params, Dir: dir, Rendered: true, Manifests: prepare.Reader(dir, nil)})
		return err
	}
	err := prep(map[string]any{"files": []any{"caps.yaml"}, "require": "baseline"})
	fp, ok := task.Field(err)
	if err == nil || !ok || strings.Join(fp, ".") != "require" ||
		!strings.Contains(err.Error(), `caps.yaml#1), container "b": capability SYS_ADMIN needs Pod Security level privileged, above baseline`) ||
		strings.Contains(err.Error(), "CHOWN needs") {
		t.Fatalf("baseline with SYS_ADMIN: %v (field %v)", err, fp)
	}
	err = prep(map[string]any{"files": []any{"caps.yaml"}, "require": "baseline",
		"exceptions": []any{map[string]any{"kind": "Deployment", "name": "builder", "require": "restricted"}}})
	if fp, _ := task.Field(err); err == nil || strings.Join(fp, ".") != "exceptions.0.require" || !strings.Contains(err.Error(), "capability CHOWN needs Pod Security level baseline, above restricted, which lets a container add only NET_BIND_SERVICE") {
		t.Fatalf("restricted exception: %v", err)
	}
	if err := prep(map[string]any{"files": []any{"caps.yaml"}, "require": "baseline",
		"exceptions": []any{map[string]any{"name": "builder", "require": "privileged"}}}); err != nil {
		t.Fatalf("privileged exception: %v", err)
	}
	// The shipped builder given SYS_ADMIN under baseline: refused before
	// it runs, not by the evaluation when it runs.
	shipped, _ := filepath.Abs("../../pipelines/kaniko-rootless")
	_, err = Type{}.Prepare(task.Params{Value: map[string]any{"files": []any{filepath.Join(shipped, "builder.yaml")}, "require": "baseline"},
		Dir: dir, Rendered: true, Manifests: prepare.Reader(dir, pipelineData([]any{"CHOWN", "SETUID", "SETGID", "FOWNER", "SYS_ADMIN"}))})
	if err == nil || !strings.Contains(err.Error(), `container "kaniko": capability SYS_ADMIN needs Pod Security level privileged`) {
		t.Fatalf("shipped builder with SYS_ADMIN: %v", err)
	}
}
