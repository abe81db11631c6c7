//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The project cluster's TLS registry (test/cluster/README.md, "The TLS
// registry"): pods push to it through its Service, the node pulls it by the
// node address; containerd trusts its CA and has no account.
const (
	tlsPush = "registry-tls.kbrun-registry.svc.cluster.local:5443"
	tlsPull = "10.250.250.1:5443"
	// The Secret the run makes from registryUser and registryPassword:
	// <builderName>-registry-auth.
	madeSecret = "kaniko-rootless-demo-deployment-registry-auth"
)

// tlsRegistry is the TLS registry's CA and its two accounts.
type tlsRegistry struct {
	ca, user, password, tokenUser, token string
}

// readTLSRegistry reads what up.sh wrote for tests, from
// KBRUN_TEST_REGISTRY_TLS_DIR or registry-tls/ beside the kubeconfig.
func readTLSRegistry(t *testing.T) tlsRegistry {
	t.Helper()
	dir := os.Getenv("KBRUN_TEST_REGISTRY_TLS_DIR")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(kubeconfig), "registry-tls")
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the TLS registry's %s: %v (test/cluster/up.sh writes it; elsewhere set KBRUN_TEST_REGISTRY_TLS_DIR)", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	return tlsRegistry{ca: read("ca.crt"), user: read("username"), password: read("password"),
		tokenUser: read("token-username"), token: read("token")}
}

// tlsArgs points the default pipeline at the TLS registry, with its CA
// unless withCA is false. registryInsecure is left to its default.
func tlsArgs(reg tlsRegistry, withCA bool, extra ...string) []string {
	args := []string{"--set", "pushRegistry=" + tlsPush, "--set", "pullRegistry=" + tlsPull}
	if withCA {
		args = append(args, "--set", "registryCA="+reg.ca)
	}
	return append(args, extra...)
}

// dockerConfig is the kubernetes.io/dockerconfigjson document for an
// account at the TLS registry under both of its names, as
// pipelines/kaniko-rootless/registry-auth.yaml renders it (sprig's toJson
// is encoding/json: keys sorted).
func dockerConfig(user, password string) string {
	account := map[string]string{"username": user, "password": password,
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	b, err := json.Marshal(map[string]any{"auths": map[string]any{tlsPush: account, tlsPull: account}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// secretForms are the forms in which an account must never be shown: the
// password or token itself and its base64, the auth field (base64 of
// user:password), the dockerconfigjson and its base64.
func secretForms(user, password string) []string {
	cfg := dockerConfig(user, password)
	forms := []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password)), cfg,
		base64.StdEncoding.EncodeToString([]byte(cfg))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(password)))
	}
	return forms
}

// assertNoSecrets fails when text holds one of the forms, as it is, escaped
// for JSON (-o json events) or escaped for XML (JUnit).
func assertNoSecrets(t *testing.T, where, text string, forms []string) {
	t.Helper()
	if text == "" {
		t.Errorf("%s: empty; nothing to check", where)
	}
	for _, f := range forms {
		q, _ := json.Marshal(f)
		var x bytes.Buffer
		_ = xml.EscapeText(&x, []byte(f))
		for _, v := range []string{f, string(q[1 : len(q)-1]), x.String()} {
			if i := strings.Index(text, v); i >= 0 {
				t.Errorf("%s shows a secret (%d characters, at offset %d)", where, len(f), i)
				break
			}
		}
	}
}

// runOutput is everything a run printed.
func runOutput(r result) string { return r.stdout + r.stderr }

// taskLines are the lines the named tasks printed (JSON events).
func taskLines(r result, tasks ...string) string {
	var b strings.Builder
	for _, e := range r.events {
		for _, name := range tasks {
			if e.Task == name && e.Line != "" {
				b.WriteString(e.Line + "\n")
			}
		}
	}
	return b.String()
}

func getSecret(t *testing.T, name string) (*corev1.Secret, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// TestTLSRegistryAccountAsSecretVars: the default pipeline pushes to and
// pulls from the TLS registry with the account given as --set secret vars
// and the CA as a var, no file edited. The plan, the text and JSON output
// and the JUnit report show no password, auth or dockerconfigjson; the
// Secret the run made holds exactly that dockerconfigjson (so the check
// looks for the right bytes); the builder mounts it, the test pod pulls with
// it, and cleanup deletes it.
func TestTLSRegistryAccountAsSecretVars(t *testing.T) {
	reg := readTLSRegistry(t)
	forms := secretForms(reg.user, reg.password)
	account := []string{"--set", "registryUser=" + reg.user, "--set", "registryPassword=" + reg.password}

	for _, o := range []string{"text", "json"} {
		p := kbrun(t, append(append([]string{"plan", pipeline, "--show-manifests", "-o", o}, tlsArgs(reg, true)...), account...)...)
		if p.code != 0 {
			t.Fatalf("plan -o %s: exit %d\n%s", o, p.code, runOutput(p))
		}
		assertNoSecrets(t, "plan -o "+o, runOutput(p), forms)
		// The plan names the Secret it makes, and TLS is checked:
		// registryInsecure defaults to false for this registry.
		for _, want := range []string{"secret ones/" + madeSecret, "-insecure=false", "-registry-ca=/kaniko/registry-ca/ca.crt"} {
			if o == "text" && !strings.Contains(p.stdout, want) {
				t.Errorf("plan lacks %q:\n%s", want, p.stdout)
			}
		}
	}

	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := runPipeline(t, append(append(tlsArgs(reg, true), account...), "--junit", junit, "--keep")...)
	t.Cleanup(func() { relDeleteNamespace(t, namespace) })
	mustPass(t, r)
	d := digest(t, r)
	assertNoSecrets(t, "run -o json", runOutput(r), forms)
	report, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	assertNoSecrets(t, "JUnit report", string(report), forms)

	sec, err := getSecret(t, madeSecret)
	if err != nil {
		t.Fatalf("the Secret the run made: %v", err)
	}
	if sec.Type != corev1.SecretTypeDockerConfigJson || string(sec.Data[corev1.DockerConfigJsonKey]) != dockerConfig(reg.user, reg.password) {
		t.Fatalf("Secret %s: type %s, data does not hold the account for %s and %s as the test expects", madeSecret, sec.Type, tlsPush, tlsPull)
	}
	builder := assertBuilderPod(t, podName(t, r, "builder"), seedCaps)
	var mounted bool
	for _, v := range builder.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == madeSecret {
			for _, m := range builder.Spec.Containers[0].VolumeMounts {
				mounted = mounted || (m.Name == v.Name && m.MountPath == "/kaniko/.docker")
			}
		}
	}
	if !mounted {
		t.Errorf("builder pod does not mount Secret %s at /kaniko/.docker", madeSecret)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testPod, err := client.CoreV1().Pods(namespace).Get(ctx, podName(t, r, "test"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("test pod: %v", err)
	}
	if img := testPod.Spec.Containers[0].Image; img != tlsPull+"/new-kaniko-rootless-image@"+d {
		t.Errorf("test pod image %q, want %s/new-kaniko-rootless-image@%s", img, tlsPull, d)
	}
	if ps := testPod.Spec.ImagePullSecrets; len(ps) != 1 || ps[0].Name != madeSecret {
		t.Errorf("test pod imagePullSecrets %v, want [%s]", ps, madeSecret)
	}

	// The same account from the environment, this time the CI account's
	// token, in text output: this run takes the kept objects over (the
	// Secret too) and its cleanup deletes them.
	forms = append(forms, secretForms(reg.tokenUser, reg.token)...)
	env := []string{"KBRUN_REGISTRY_USER=" + reg.tokenUser, "KBRUN_REGISTRY_PASSWORD=" + reg.token}
	txt := kbrunEnv(t, env, append([]string{"run", pipeline}, tlsArgs(reg, true)...)...)
	if txt.code != 0 {
		t.Fatalf("run with the account from the environment: exit %d\n%s", txt.code, runOutput(txt))
	}
	assertNoSecrets(t, "run (text)", runOutput(txt), forms)
	if !strings.Contains(txt.stdout, "deleted secret ones/"+madeSecret) {
		t.Errorf("cleanup did not say it deleted secret ones/%s:\n%s", madeSecret, txt.stdout)
	}
	if _, err := getSecret(t, madeSecret); !apierrors.IsNotFound(err) {
		t.Errorf("Secret %s after the run: %v, want NotFound", madeSecret, err)
	}
	assertGone(t)
}

// TestTLSRegistryExistingSecret: with registryAuthSecret the run uses a
// dockerconfigjson Secret the user made: it pushes and pulls with it, and
// cleanup leaves it as it was.
func TestTLSRegistryExistingSecret(t *testing.T) {
	reg := readTLSRegistry(t)
	createNamespace(t, namespace, nil)
	cfg := dockerConfig(reg.tokenUser, reg.token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mine, err := client.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "team-registry"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := runPipeline(t, append(tlsArgs(reg, true), "--set", "registryAuthSecret=team-registry", "--junit", junit)...)
	mustPass(t, r)
	d := digest(t, r)
	if images := fmt.Sprint(r.ends["test"].Outputs["images"]); !strings.Contains(images, tlsPull+"/new-kaniko-rootless-image@"+d) {
		t.Errorf("test images %s, want %s/new-kaniko-rootless-image@%s", images, tlsPull, d)
	}
	// registryAccess applied the CA's ConfigMap only: no Secret is made
	// when one is named.
	if names := fmt.Sprint(r.ends["registryAccess"].Outputs["names"]); names != "[configmap/kaniko-rootless-demo-deployment-registry-ca]" {
		t.Errorf("registryAccess applied %s, want only the CA's ConfigMap", names)
	}
	forms := secretForms(reg.tokenUser, reg.token)
	report, _ := os.ReadFile(junit)
	assertNoSecrets(t, "run -o json", runOutput(r), forms)
	assertNoSecrets(t, "JUnit report", string(report), forms)

	after, err := getSecret(t, "team-registry")
	if err != nil {
		t.Fatalf("the user's Secret after the run: %v", err)
	}
	if after.UID != mine.UID || after.ResourceVersion != mine.ResourceVersion || string(after.Data[corev1.DockerConfigJsonKey]) != cfg {
		t.Errorf("the user's Secret was changed or replaced by the run (uid %s→%s, resourceVersion %s→%s)", mine.UID, after.UID, mine.ResourceVersion, after.ResourceVersion)
	}
	if strings.Contains(taskLines(r, "cleanup"), "team-registry") {
		t.Errorf("cleanup touched the user's Secret:\n%s", taskLines(r, "cleanup"))
	}
}

// buildFailure checks a JSON run failed in its build task, within limit,
// with an error holding every want, and that the later tasks did not run
// and cleanup did.
func buildFailure(t *testing.T, r result, limit time.Duration, want ...string) event {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
	}
	b := r.ends["build"]
	if b.Status != "failed" {
		t.Fatalf("build task %+v, want failed\n%s", b, r.summary())
	}
	t.Logf("build failed after %dms: %s", b.Duration, b.Error)
	for _, w := range want {
		if !strings.Contains(b.Error, w) {
			t.Errorf("build error lacks %q:\n%s", w, b.Error)
		}
	}
	if time.Duration(b.Duration)*time.Millisecond > limit {
		t.Errorf("build failed after %dms, want within %s", b.Duration, limit)
	}
	if e, ok := r.ends["test"]; ok && e.Status == "ok" {
		t.Errorf("test task ran after the failed build")
	}
	if e := r.ends["cleanup"]; e.Status != "ok" {
		t.Errorf("cleanup after the failure: %+v", e)
	}
	return b
}

// TestTLSRegistryWrongPassword: a wrong password fails the build task in
// seconds, naming it and quoting the registry's 401, with a hint, in the
// text a person reads; the password shows nowhere (text, JUnit); the
// Secret the run made is gone.
func TestTLSRegistryWrongPassword(t *testing.T) {
	reg := readTLSRegistry(t)
	wrong := reg.password + "-wrong"
	forms := secretForms(reg.user, wrong)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := kbrun(t, append(append([]string{"run", pipeline, "--junit", junit}, tlsArgs(reg, true)...),
		"--set", "registryUser="+reg.user, "--set", "registryPassword="+wrong)...)
	all := runOutput(r)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, all)
	}
	// "✗ 11 build failed after 1.2s: ... last output:" and the indented
	// lines under it, which end with the build program's quote of Kaniko.
	var failure []string
	for _, line := range strings.Split(all, "\n") {
		if len(failure) > 0 && !strings.HasPrefix(line, "    ") {
			break
		}
		if len(failure) > 0 || (strings.HasPrefix(line, "✗ ") && strings.Contains(line, " build failed after ")) {
			failure = append(failure, line)
		}
	}
	if len(failure) == 0 {
		t.Fatalf("no \"✗ N build failed after ...\" line:\n%s", all)
	}
	block := strings.Join(failure, "\n")
	t.Logf("failure:\n%s", block)
	for _, want := range []string{"UNAUTHORIZED", "authentication required", "hint: the registry refused the account: check registryUser and registryPassword"} {
		if !strings.Contains(block, want) {
			t.Errorf("the build's failure lacks %q", want)
		}
	}
	after, _, _ := strings.Cut(strings.SplitN(failure[0], " build failed after ", 2)[1], ":")
	if d, err := time.ParseDuration(after); err != nil || d > 30*time.Second {
		t.Errorf("build failed after %q, want within 30s (%v)", after, err)
	}
	for _, line := range strings.Split(all, "\n") {
		if strings.Contains(line, " test ") && strings.HasPrefix(line, "✓ ") {
			t.Errorf("test task ran after the failed build: %s", line)
		}
	}
	report, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	if !strings.Contains(string(report), "UNAUTHORIZED") {
		t.Errorf("JUnit report does not quote the 401:\n%s", report)
	}
	assertNoSecrets(t, "run (text)", all, forms)
	assertNoSecrets(t, "JUnit report", string(report), forms)
	if _, err := getSecret(t, madeSecret); !apierrors.IsNotFound(err) {
		t.Errorf("Secret %s after the failed run: %v, want NotFound", madeSecret, err)
	}
	assertGone(t)
}

// TestTLSRegistryUnknownCA: without registryCA Kaniko checks the registry's
// certificate against the system's CAs (registryInsecure is false for any
// registry but the project cluster's own) and the build fails quoting the
// x509 error, with a hint to give the CA.
func TestTLSRegistryUnknownCA(t *testing.T) {
	reg := readTLSRegistry(t)
	r := runPipeline(t, tlsArgs(reg, false, "--set", "registryUser="+reg.user, "--set", "registryPassword="+reg.password)...)
	buildFailure(t, r, 30*time.Second, "x509: certificate signed by unknown authority", "hint: a CA the builder does not trust signed the registry's certificate: give that CA's certificate as registryCA")
	assertNoSecrets(t, "run -o json", runOutput(r), secretForms(reg.user, reg.password))
	assertGone(t)
}

// TestPlainHTTPRegistryNotInsecure: the project cluster's plain-HTTP
// registry under a name other than the pipeline's default is spoken to over
// TLS (registryInsecure defaults to false), and the build fails at once,
// quoting Kaniko, with the hint to set registryInsecure: no hang. The name
// is the Service's without ".cluster.local": Kaniko (go-containerregistry)
// falls back to plain HTTP by itself for names ending in .local, localhost
// and private IP addresses.
func TestPlainHTTPRegistryNotInsecure(t *testing.T) {
	r := runPipeline(t, "--set", "pushRegistry=registry.kbrun-registry.svc:5000")
	buildFailure(t, r, 30*time.Second, "http: server gave HTTP response to HTTPS client", "hint: the registry speaks plain HTTP: set registryInsecure=true")
	var executor string
	for _, line := range strings.Split(taskLines(r, "build"), "\n") {
		if strings.HasPrefix(line, "build: /kaniko/executor ") {
			executor = line
		}
	}
	if executor == "" || strings.Contains(executor, "--insecure") || strings.Contains(executor, "--skip-tls-verify") {
		t.Errorf("Kaniko ran as %q, want it without --insecure and --skip-tls-verify (registryInsecure's default for this registry)", executor)
	}
	assertGone(t)
}

// TestTLSRegistryOwnContext: a team's own context pushed to the TLS
// registry with an account is read back and checked (checkImage) through
// the same account and CA.
func TestTLSRegistryOwnContext(t *testing.T) {
	reg := readTLSRegistry(t)
	kind := filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds", "copy")
	r := runPipeline(t, tlsArgs(reg, true, "--set", "context="+kind, "--set", "expect="+filepath.Join(kind, "expect"),
		"--set", "registryUser="+reg.user, "--set", "registryPassword="+reg.password)...)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.summary())
	}
	for name, want := range map[string]string{"registryAccess": "ok", "build": "ok", "checkImage": "ok", "test": "skipped"} {
		if got := r.ends[name].Status; got != want {
			t.Errorf("task %s: %s, want %s", name, got, want)
		}
	}
	if lines := taskLines(r, "checkImage"); !strings.Contains(lines, "ok    /hello.txt: ") {
		t.Errorf("checkImage did not check /hello.txt:\n%s", lines)
	}
	assertNoSecrets(t, "run -o json", runOutput(r), secretForms(reg.user, reg.password))
	assertGone(t)
}

// TestKanikoBuildLibraryTLS: the kaniko-build library pushes to the TLS
// registry with an account given to it as params from secret vars (the
// password from a file that ends with a newline, as files do), and a
// Deployment pulls the image with the library's authSecret output; nothing
// shows the password, and cleanup deletes the Secret with the rest.
func TestKanikoBuildLibraryTLS(t *testing.T) {
	reg := readTLSRegistry(t)
	const ns = "kbrun-lib-tls"
	relDeleteNamespace(t, ns)
	t.Cleanup(func() { relDeleteNamespace(t, ns) })
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(reg.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := kbrun(t, "run", filepath.Join(repoRoot, "test", "e2e", "testdata", "kaniko-build-tls.yaml"), "-o", "json", "--junit", junit,
		"--set", "registryCA="+reg.ca, "--set", "registryUser="+reg.user, "--set-file", "registryPassword="+pwFile)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.summary())
	}
	for _, name := range []string{"image.registryAccess", "image.build", "image", "run", "logs", "cleanup"} {
		if e := r.ends[name]; e.Status != "ok" {
			t.Errorf("task %s: %+v, want ok", name, e)
		}
	}
	if img := fmt.Sprint(r.ends["image"].Outputs["image"]); !strings.HasPrefix(img, tlsPull+"/kbrun-e2e/lib-tls@sha256:") {
		t.Errorf("image output %q, want %s/kbrun-e2e/lib-tls@sha256:…", img, tlsPull)
	}
	if s := fmt.Sprint(r.ends["image"].Outputs["authSecret"]); s != "kaniko-builder-registry-auth" {
		t.Errorf("authSecret output %q, want kaniko-builder-registry-auth", s)
	}
	report, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	forms := append(secretForms(reg.user, reg.password), base64.StdEncoding.EncodeToString([]byte(reg.password+"\n")))
	assertNoSecrets(t, "run -o json", runOutput(r), forms)
	assertNoSecrets(t, "JUnit report", string(report), forms)
	if !strings.Contains(taskLines(r, "cleanup"), "deleted secret "+ns+"/kaniko-builder-registry-auth") {
		t.Errorf("cleanup did not delete the Secret the library made:\n%s", taskLines(r, "cleanup"))
	}
	namespaceGone(t, ns)
}
