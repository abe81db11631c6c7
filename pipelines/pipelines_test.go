// Package pipelines holds kbrun's shipped pipelines. Its tests check them
// without a cluster: they validate, and their plans match golden files
// (update with: go test ./pipelines -update).
package pipelines

import (
	"bytes"
	"encoding/base64"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
	"github.com/kbrun/kbrun/engine/tmpl"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// kbrun runs the CLI in-process and returns its exit code and output.
func kbrun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// normalize removes what differs between machines: the absolute folder.
func normalize(t *testing.T, s string) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, dir, "<pipelines>")
}

func TestValidate(t *testing.T) {
	for _, f := range []string{"kaniko-rootless.yaml", "kbrun-image.yaml", "kbrun-image/check.yaml"} {
		code, out, errOut := kbrun(t, "validate", f)
		if code != 0 {
			t.Errorf("validate %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test ./pipelines -update rewrites it)\n--- got:\n%s", path, got)
	}
}

// TestPlan: `kbrun plan` shows the seed procedure's steps in order,
// rendered with the default vars.
func TestPlan(t *testing.T) {
	code, out, errOut := kbrun(t, "plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000")
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	golden(t, "kaniko-rootless.plan.golden", normalize(t, out+errOut))

	// The seed's steps, in the seed's order.
	order := []string{". podSecurity (podSecurity)", ". builder (deploy)", ". buildProgram (compile)", ". server (compile)",
		". copy (copy)", ". build (exec)", ". test (deploy)", ". logs (assertLogs)", ". cleanup (delete)"}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i < 0 || i < last {
			t.Fatalf("plan lacks %q after the step before it:\n%s", s, out)
		}
		last = i
	}
}

// TestPlanVariants: the vars a team changes reach the right places.
func TestPlanVariants(t *testing.T) {
	code, out, errOut := kbrun(t, "plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000",
		"--set", "dockerfile=multistage", "--set", "capabilities=[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE]",
		"--set", "deployRegistry=true", "--set", "pushRegistry=registry.kaniko-registry.svc.cluster.local:5001",
		"--set", "pullRegistry=localhost:5001", "--set", "registryPort=5001", "--set", "imageTag=v1", "-o", "text")
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"-dockerfile=multistage",
		"-destination=registry.kaniko-registry.svc.cluster.local:5001/new-kaniko-rootless-image:v1",
		"deploy kaniko-rootless/registry.yaml",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "registry (deploy) [skipped") {
		t.Errorf("registry task skipped with deployRegistry=true:\n%s", out)
	}
}

// TestProgramsModule vets and tests the pipeline's own Go module (the build
// program and the server), which kbrun's ./... does not include.
func TestProgramsModule(t *testing.T) {
	// go test puts its own toolchain's bin first on PATH.
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = "kaniko-rootless"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %v in pipelines/kaniko-rootless: %v\n%s", args, err, out)
		}
	}
}

// TestValuesFiles: every shipped values file is accepted; each registry
// mode's reaches the build's destination, and user-namespace.yaml turns the
// user namespace check on.
func TestValuesFiles(t *testing.T) {
	files, _ := filepath.Glob("kaniko-rootless/values/*.yaml")
	if len(files) < 5 {
		t.Fatalf("values files: %v", files)
	}
	for _, f := range files {
		code, out, errOut := kbrun(t, "plan", "kaniko-rootless.yaml", "-f", f, "--run-id", "20000101000000-0000")
		if code != 0 {
			t.Errorf("plan -f %s: exit %d\n%s%s", f, code, out, errOut)
			continue
		}
		if filepath.Base(f) == "user-namespace.yaml" {
			if !strings.Contains(out, "8. checkUserNamespace (exec)\n") {
				t.Errorf("plan -f %s does not run checkUserNamespace:\n%s", f, out)
			}
			continue
		}
		if strings.Contains(out, "-destination=registry.kbrun-registry.svc") {
			t.Errorf("plan -f %s still pushes to the default registry", f)
		}
	}
}

// TestTestDeploymentImage: the test Deployment pulls the image by the
// build's digest output, from pullRegistry; before the build (the Pod
// Security check) it shows the tag; a build without a digest fails the
// render with a clear message.
func TestTestDeploymentImage(t *testing.T) {
	text, err := os.ReadFile("kaniko-rootless/test-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := func(tasks map[string]any) map[string]any {
		return map[string]any{
			"vars": map[string]any{"namespace": "ones", "testName": "t", "pullRegistry": "localhost:5000", "authSecret": "", "testNode": "",
				"imageRepository": "new-kaniko-rootless-image", "imageTag": "20000101000000-0000"},
			"pipeline": map[string]any{"runId": "20000101000000-0000"},
			"tasks":    tasks,
		}
	}
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name, want, wantErr string
		tasks               map[string]any
	}{
		{name: "before the build", tasks: map[string]any{}, want: `image: "localhost:5000/new-kaniko-rootless-image:20000101000000-0000"`},
		{name: "after the build", tasks: map[string]any{"build": map[string]any{"digest": d}},
			want: `image: "localhost:5000/new-kaniko-rootless-image@` + d + `"`},
		{name: "no digest", tasks: map[string]any{"build": map[string]any{"digest": ""}}, wantErr: `the build task has no digest`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := tmpl.Render("test-deployment.yaml", string(text), data(c.tasks))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("rendered manifest lacks %s:\n%s", c.want, out)
			}
		})
	}
}

// TestPlanShowsManifests: with --show-manifests the plan prints each
// manifest file as rendered, so the builder's capabilities (the point of
// the pipeline) show in its dry run; files rendered only at run time say so.
func TestPlanShowsManifests(t *testing.T) {
	code, out, errOut := kbrun(t, "plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000", "--show-manifests",
		"--set", "capabilities=CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE")
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"| # kaniko-rootless/builder.yaml",
		`add: ["CHOWN","SETUID","SETGID","FOWNER","DAC_OVERRIDE"]`,
		"kaniko-rootless/test-deployment.yaml is rendered at run time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

// TestPlanRegistryAccount: a registry account given as vars reaches the
// builder (the Secret mounted where Kaniko reads it), the test Deployment
// (imagePullSecrets) and the build (-insecure=false for a registry other
// than the project cluster's, the CA); the Secret the run makes shows as
// *** and the password in none of its forms. Contradicting or half
// accounts are refused before anything runs.
func TestPlanRegistryAccount(t *testing.T) {
	const pw = "pa55-w0rd-token"
	ca := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	reg := []string{"plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000", "--show-manifests",
		"--set", "pushRegistry=registry.example.com:5443", "--set", "pullRegistry=registry.example.com:5443"}
	code, out, errOut := kbrun(t, append(reg, "--set", "registryUser=ci-bot", "--set", "registryPassword="+pw, "--set", "registryCA="+ca)...)
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"4. registryAccess (apply)\n",
		"secret ones/kaniko-rootless-demo-deployment-registry-auth",
		"| # kaniko-rootless/registry-auth.yaml\n      | ***\n",
		`secretName: "kaniko-rootless-demo-deployment-registry-auth"`,
		"mountPath: /kaniko/.docker",
		`name: "kaniko-rootless-demo-deployment-registry-ca"`,
		"-insecure=false",
		"-registry-ca=/kaniko/registry-ca/ca.crt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("ci-bot:" + pw))
	for _, v := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw)), auth} {
		if strings.Contains(out+errOut, v) {
			t.Errorf("plan shows %q", v)
		}
	}

	// An existing Secret: used by name, none made.
	code, out, errOut = kbrun(t, append(reg, "--set", "registryAuthSecret=team-registry")...)
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"4. registryAccess (apply) [skipped:", `secretName: "team-registry"`, "-insecure=false", "-registry-ca= "} {
		if !strings.Contains(out, want) {
			t.Errorf("plan with registryAuthSecret lacks %q:\n%s", want, out)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "registryPassword=" + pw}, "registryPassword is given but registryUser is empty"},
		{[]string{"--set", "registryUser=ci-bot"}, "registryUser is given but registryPassword is empty"},
		{[]string{"--set", "registryUser=ci-bot", "--set", "registryPassword=" + pw, "--set", "registryAuthSecret=team-registry"}, `give either registryAuthSecret (the existing Secret "team-registry") or registryUser and registryPassword`},
	} {
		code, out, errOut := kbrun(t, append(reg, c.args...)...)
		if code != 2 || !strings.Contains(errOut, "kaniko-rootless/registry-auth.yaml:") || !strings.Contains(errOut, c.want) || strings.Contains(out+errOut, pw) {
			t.Errorf("plan %v: exit %d, want 2 naming registry-auth.yaml and %q\n%s%s", c.args, code, c.want, out, errOut)
		}
	}
}

// TestRegistryInsecureDefault: TLS is checked for any registry but the
// project cluster's own plain-HTTP one and the one deployRegistry deploys.
func TestRegistryInsecureDefault(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "-insecure=true"},
		{[]string{"--set", "deployRegistry=true", "--set", "pushRegistry=registry.kaniko-registry.svc.cluster.local:5000"}, "-insecure=true"},
		{[]string{"--set", "pushRegistry=ghcr.io"}, "-insecure=false"},
		{[]string{"--set", "pushRegistry=ghcr.io", "--set", "registryInsecure=true"}, "-insecure=true"},
	} {
		code, out, errOut := kbrun(t, append([]string{"plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000"}, c.args...)...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("plan %v: exit %d, want %s\n%s%s", c.args, code, c.want, out, errOut)
		}
	}
}

// TestLibraryRegistryAccount: the kaniko-build library takes the same
// registry account and CA as the default pipeline, as params: a Secret
// made from them (shown as ***), mounted in its builder, named by its
// authSecret output; the password shows nowhere, and TLS is checked for
// any registry but the project cluster's own. The pipeline is the one the
// e2e test TestKanikoBuildLibraryTLS runs.
func TestLibraryRegistryAccount(t *testing.T) {
	const pw = "pa55-w0rd-token"
	file := "../test/e2e/testdata/kaniko-build-tls.yaml"
	code, out, errOut := kbrun(t, "plan", file, "--run-id", "20000101000000-0000", "--show-manifests",
		"--set", "registryUser=ci-bot", "--set", "registryPassword="+pw, "--set", "registryCA=-----BEGIN CERTIFICATE-----")
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"registryPassword: '***'",
		"authSecret: kaniko-builder-registry-auth",
		"image.registryAccess (apply) [from ",
		"kaniko-build/registry-auth.yaml\n         | ***\n",
		`secretName: "kaniko-builder-registry-auth"`,
		`name: "kaniko-builder-registry-ca"`,
		"-insecure=false -registry-ca=/kaniko/registry-ca/ca.crt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("ci-bot:" + pw))
	for _, v := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw)), auth} {
		if strings.Contains(out+errOut, v) {
			t.Errorf("plan shows %q", v)
		}
	}
	code, out, errOut = kbrun(t, "plan", file, "--set", "registryUser=ci-bot")
	if code != 2 || !strings.Contains(errOut, "kaniko-build/registry-auth.yaml:") || !strings.Contains(errOut, "registryUser is given but registryPassword is empty") {
		t.Errorf("plan with a user and no password: exit %d, want 2\n%s%s", code, out, errOut)
	}
	code, out, errOut = kbrun(t, "plan", file, "--set", "pushRegistry=registry.kbrun-registry.svc.cluster.local:5000")
	if code != 0 || !strings.Contains(out, "-insecure=true -registry-ca= ") || !strings.Contains(out, "image.registryAccess (apply) [from ") || !strings.Contains(out, "skipped: when") {
		t.Errorf("plan for the cluster's own registry without an account: exit %d\n%s%s", code, out, errOut)
	}
}
