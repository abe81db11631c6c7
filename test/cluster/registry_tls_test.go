package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	registryTLSPush = "registry-tls.kbrun-registry.svc.cluster.local:5443"
	registryTLSPull = "10.250.250.1:5443"
)

// tlsRegistry is what up.sh wrote about the TLS registry: its CA and accounts.
type tlsRegistry struct {
	dir, caFile      string
	ca               []byte
	user, password   string
	tokenUser, token string
}

// readTLSRegistry reads the TLS registry's CA and accounts from
// KBRUN_TEST_REGISTRY_TLS_DIR, by default registry-tls/ beside the
// kubeconfig (where up.sh writes them); it fails the test when they are missing.
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
	r := tlsRegistry{dir: dir, caFile: filepath.Join(dir, "ca.crt"), user: read("username"), password: read("password"),
		tokenUser: read("token-username"), token: read("token")}
	r.ca = []byte(read("ca.crt") + "\n")
	return r
}

// dockerConfig is a kubernetes.io/dockerconfigjson document for the given
// registries and account.
func dockerConfig(user, password string, registries ...string) string {
	auths := map[string]any{}
	for _, reg := range registries {
		auths[reg] = map[string]string{"username": user, "password": password,
			"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	return string(b)
}

// TestTLSRegistry: the second registry speaks TLS with the harness's own CA
// and asks for an account; Kaniko in a non-privileged pod pushes to it with a
// mounted docker config and the CA (--registry-certificate), and the node
// pulls from it with the pod's imagePullSecret: containerd trusts the CA and
// has no credentials of its own, so a pod without the secret is refused.
func TestTLSRegistry(t *testing.T) {
	reg := readTLSRegistry(t)

	// From the host: TLS checked against the CA, 401 without an account,
	// 200 with either account; without the CA, an unknown authority.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(reg.ca) {
		t.Fatalf("%s holds no PEM certificate", reg.caFile)
	}
	get := func(roots *x509.CertPool, user, pw string) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		req, _ := http.NewRequest("GET", "https://"+registryTLSPull+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	for _, c := range []struct {
		user, pw string
		want     int
	}{
		{"", "", http.StatusUnauthorized},
		{reg.user, reg.password, http.StatusOK},
		{reg.tokenUser, reg.token, http.StatusOK},
		{reg.user, reg.password + "x", http.StatusUnauthorized},
	} {
		resp, err := get(pool, c.user, c.pw)
		if err != nil {
			t.Fatalf("GET https://%s/v2/ as %q: %v", registryTLSPull, c.user, err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("GET https://%s/v2/ as %q: %s, want %d", registryTLSPull, c.user, resp.Status, c.want)
		}
		if c.want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 without a Basic challenge: WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
	empty := x509.NewCertPool()
	if _, err := get(empty, "", ""); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("GET without the CA: %v, want an unknown authority", err)
	}

	ns := namespace(t)
	tag := randHex(8)
	repo := "kbrun-harness/hello-tls"
	cfg := dockerConfig(reg.tokenUser, reg.token, registryTLSPush, registryTLSPull)
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: registry-auth, namespace: %[1]s}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: %[2]s
---
apiVersion: v1
kind: ConfigMap
metadata: {name: registry-ca, namespace: %[1]s}
data:
  ca.crt: %[3]q
`, ns, base64.StdEncoding.EncodeToString([]byte(cfg)), string(reg.ca)))

	script := fmt.Sprintf(`set -e
mkdir -p /workspace/ctx
cp /busybox/busybox /workspace/ctx/busybox
echo hello-from-tls-%[1]s > /workspace/ctx/hello.txt
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.txt /hello.txt\nENTRYPOINT ["/bin/busybox", "cat", "/hello.txt"]\n' > /workspace/ctx/Dockerfile
exec /kaniko/executor --context dir:///workspace/ctx --dockerfile /workspace/ctx/Dockerfile \
  --destination %[2]s/%[3]s:%[1]s --registry-certificate %[2]s=/registry-ca/ca.crt --verbosity info`, tag, registryTLSPush, repo)
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
    volumeMounts:
    - {name: workspace, mountPath: /workspace}
    - {name: docker-config, mountPath: /kaniko/.docker, readOnly: true}
    - {name: registry-ca, mountPath: /registry-ca, readOnly: true}
  volumes:
  - {name: workspace, emptyDir: {}}
  - name: docker-config
    secret: {secretName: registry-auth, items: [{key: .dockerconfigjson, path: config.json}]}
  - name: registry-ca
    configMap: {name: registry-ca}
`, ns, kanikoImage, script))
	waitPodSucceeded(t, ns, "kaniko", 3*time.Minute)

	pod := func(name, pullSecret string) string {
		secrets := ""
		if pullSecret != "" {
			secrets = "  imagePullSecrets: [{name: " + pullSecret + "}]\n"
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  restartPolicy: Never
%s  containers:
  - name: hello
    image: %s/%s:%s
    imagePullPolicy: Always
`, name, ns, secrets, registryTLSPull, repo, tag)
	}
	apply(t, pod("hello", "registry-auth"))
	waitPodSucceeded(t, ns, "hello", 2*time.Minute)
	if logs := kubectl(t, "-n", ns, "logs", "hello"); !strings.Contains(logs, "hello-from-tls-"+tag) {
		t.Fatalf("pod from %s/%s:%s logged %q, want hello-from-tls-%s", registryTLSPull, repo, tag, logs, tag)
	}

	// Without the imagePullSecret the node has no account: the registry's
	// Basic challenge gets none (containerd: "authorization failed: no basic
	// auth credentials").
	apply(t, pod("anonymous", ""))
	var msg string
	waitFor(t, time.Minute, "the pull without an imagePullSecret to fail", func() bool {
		out, _ := kubectlCtx(context.Background(), 10*time.Second, nil, "-n", ns, "get", "pod", "anonymous", "-o",
			`jsonpath={.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}`)
		msg = strings.TrimSpace(out)
		return strings.HasPrefix(msg, "ErrImagePull:") || strings.HasPrefix(msg, "ImagePullBackOff:")
	})
	t.Logf("pull without an imagePullSecret: %s", msg)
	if !strings.Contains(msg, "no basic auth credentials") {
		t.Errorf("pull without an imagePullSecret failed with %q, want containerd's \"no basic auth credentials\"", msg)
	}
}
