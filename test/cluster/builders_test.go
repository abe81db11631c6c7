//go:build builders

package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	kanikoForkImage = "kbrun.local/kaniko-chainguard:v1.25.5-debug"
	buildkitImage   = "docker.io/moby/buildkit:v0.35.1-rootless"
)

// TestKanikoForkPushPull: the maintained Kaniko fork's image is a drop-in for
// upstream's, under the same pod security context.
func TestKanikoForkPushPull(t *testing.T) { kanikoPushPull(t, kanikoForkImage, "v1.25.5") }

// TestBuildKitRootlessPushPull: rootless BuildKit as upstream's Kubernetes
// example runs it (examples/kubernetes/job.rootless.yaml: uid 1000, seccomp
// Unconfined, buildctl-daemonless.sh, --oci-worker-no-process-sandbox because
// the pod's /proc is masked) builds a scratch image with a RUN step, pushes it
// over plain HTTP, and the node runs it.
func TestBuildKitRootlessPushPull(t *testing.T) {
	ns := namespace(t)
	token := randHex(8)
	repo := "kbrun-harness/hello-buildkit"
	tag := token
	script := fmt.Sprintf(`set -e
buildkitd --version
mkdir -p /tmp/ctx
cp /busybox/busybox /tmp/ctx/busybox
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo hello-from-buildkit-%[1]s > /hello.txt"]\nENTRYPOINT ["/bin/busybox", "cat", "/hello.txt"]\n' > /tmp/ctx/Dockerfile
exec buildctl-daemonless.sh build --frontend dockerfile.v0 --local context=/tmp/ctx --local dockerfile=/tmp/ctx \
  --output type=image,name=%[2]s/%[3]s:%[4]s,push=true,registry.insecure=true`, token, registryPush, repo, tag)
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: buildkit, namespace: %s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: buildkit
    image: %s
    imagePullPolicy: IfNotPresent
    command: ["/busybox/sh", "-c", %q]
    env: [{name: BUILDKITD_FLAGS, value: --oci-worker-no-process-sandbox}]
    securityContext:
      runAsUser: 1000
      runAsGroup: 1000
      seccompProfile: {type: Unconfined}
    volumeMounts: [{name: state, mountPath: /home/user/.local/share/buildkit}]
  volumes: [{name: state, emptyDir: {}}]
`, ns, buildkitImage, script))
	waitPodSucceeded(t, ns, "buildkit", 3*time.Minute)
	blog := kubectl(t, "-n", ns, "logs", "buildkit")
	t.Logf("buildkit log:\n%s", blog)
	if !strings.Contains(blog, "v0.35.1") {
		t.Errorf("buildkitd did not report version v0.35.1 (stamped at build)")
	}
	runPushed(t, ns, repo, tag, "hello-from-buildkit-"+token)
}
