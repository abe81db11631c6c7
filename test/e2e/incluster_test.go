//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/yaml"
)

// inClusterDoc documents kbrun's image and the Job; the test takes the Job
// manifest from it.
const inClusterDoc = "docs/in-cluster.md"

// docJob reads the Job manifest from docs/in-cluster.md (the ```yaml block
// document with "kind: Job").
func docJob(t *testing.T) *batchv1.Job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, inClusterDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, doc := range strings.Split(block, "\n---\n") {
			if !strings.Contains("\n"+doc, "\nkind: Job\n") {
				continue
			}
			var job batchv1.Job
			if err := yaml.UnmarshalStrict([]byte(doc), &job); err != nil {
				t.Fatalf("%s: Job: %v", inClusterDoc, err)
			}
			return &job
		}
	}
	t.Fatalf("%s has no ```yaml block with a Job", inClusterDoc)
	return nil
}

// pipelineRole reads the Role that pipelines/kbrun-image/job.yaml applies
// (its only template is the namespace).
func pipelineRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "pipelines/kbrun-image/job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !strings.Contains(doc, "\nkind: Role\n") {
			continue
		}
		doc = strings.ReplaceAll(doc, "{{ .vars.namespace | quote }}", "ns")
		var role rbacv1.Role
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatalf("kbrun-image/job.yaml: Role: %v", err)
		}
		return &role
	}
	t.Fatal("kbrun-image/job.yaml has no Role")
	return nil
}

// jobRun is how a Job ended.
type jobRun struct {
	failed   bool
	exitCode int32
	log      string
	took     time.Duration
}

// runJob creates job and waits, by watch, until it is Complete or Failed;
// it returns the pod's exit code and log.
func runJob(t *testing.T, job *batchv1.Job) jobRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	jobs := client.BatchV1().Jobs(job.Namespace)
	start := time.Now()
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job %s: %v", job.Name, err)
	}
	sel := fields.OneTermEqualSelector("metadata.name", job.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return jobs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return jobs.Watch(ctx, o)
		},
	}
	var r jobRun
	_, err := watchtools.UntilWithSync(ctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
		j, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return false, nil
		}
		for _, c := range j.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				r.failed = c.Type == batchv1.JobFailed
				return true, nil
			}
		}
		return false, nil
	})
	r.took = time.Since(start)
	if err != nil {
		t.Fatalf("Job %s/%s neither Complete nor Failed: %v", job.Namespace, job.Name, err)
	}
	pods, err := client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of Job %s: %v (%d)", job.Name, err, len(pods.Items))
	}
	p := pods.Items[0]
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated == nil {
			t.Fatalf("pod %s: container %s did not terminate: %+v", p.Name, cs.Name, cs.State)
		}
		r.exitCode = cs.State.Terminated.ExitCode
	}
	logs, err := client.CoreV1().Pods(job.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("log of %s: %v", p.Name, err)
	}
	r.log = string(logs)
	return r
}

// TestKbrunImageJob: kbrun builds its own image (pipelines/kbrun-image.yaml:
// compile, Kaniko without privilege, push) and runs its in-cluster check from
// it as a Job under the least-privilege ServiceAccount. Then the Job of
// docs/in-cluster.md runs a pipeline from a ConfigMap with that image: a
// passing run completes the Job (exit 0), a failing one fails it (exit 1),
// and a pipeline with compile tasks is refused at validation (exit 2); each
// Job's log is kbrun's report.
func TestKbrunImageJob(t *testing.T) {
	if docRole, role := relDocRole(t), pipelineRole(t); !reflect.DeepEqual(docRole.Rules, role.Rules) || docRole.Name != role.Name {
		t.Errorf("the Role in pipelines/kbrun-image/job.yaml differs from %s's:\n%+v\n%+v", relRoleDoc, role.Rules, docRole.Rules)
	}
	ns := relNamespace(t, "image")
	defer relDeleteNamespace(t, ns)
	r := relKbrun(t, relOpts{args: []string{"run", "pipelines/kbrun-image.yaml", "-o", "json", "--set", "namespace=" + ns}, timeout: 20 * time.Minute})
	if r.code != 0 {
		t.Fatalf("kbrun-image pipeline: exit %d\n%s", r.code, r.summary())
	}
	for _, task := range []string{"kbrun", "copy", "build", "job", "jobLogs", "cleanup"} {
		if e := r.ends[task]; e.Status != "ok" {
			t.Errorf("task %s: %+v", task, e)
		}
	}
	out, _ := r.ends["build"].Outputs["stdout"].(string)
	digest := regexp.MustCompile(`(?m)^digest: (sha256:[0-9a-f]{64})$`).FindStringSubmatch(out)
	if digest == nil {
		t.Fatalf("the build printed no digest: %q", out)
	}
	image := "localhost:5000/kbrun@" + digest[1]
	relLogf(t, "kbrun built and pushed its image %s (%v bytes of kbrun) in %dms, the in-cluster check Job took %dms; whole run %s",
		image, r.ends["kbrun"].Outputs["size"], r.ends["build"].DurationMS, r.ends["job"].DurationMS, r.duration.Round(100*time.Millisecond))
	relAssertNamespaceGone(t, ns)

	// The documented Job, with the check pipeline from a ConfigMap.
	jns := relNamespace(t, "image-job")
	defer relDeleteNamespace(t, jns)
	relServiceAccountKubeconfig(t, jns, relDocRole(t))
	check, err := os.ReadFile(filepath.Join(repoRoot, "pipelines/kbrun-image/check.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defaultPipeline, err := os.ReadFile(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kbrun-pipeline"}, Data: map[string]string{"pipeline.yaml": string(check), "default.yaml": string(defaultPipeline)}}
	if _, err := client.CoreV1().ConfigMaps(jns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string // replacing the documented ones, when given
		extra  []string
		failed bool
		code   int32
		want   []string
	}{
		{name: "passes", code: 0, want: []string{"kbrun: pipeline in-cluster-check, run", "✓ 2 exec", "hello from kbrun-check-", "PASSED in"}},
		{name: "fails", extra: []string{"--set", "exitCode=3"}, failed: true, code: 1, want: []string{"kbrun: pipeline in-cluster-check, run", "✗ 2 exec failed", "exited with code 3", "✓ F1 cleanup", "FAILED in"}},
		{name: "compile", args: []string{"validate", "/pipeline/default.yaml"}, failed: true, code: 2, want: []string{`compile needs a Go toolchain, and "go" is not on PATH: kbrun runs in a pod whose image has no Go`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := docJob(t)
			job.Name, job.Namespace = "kbrun-"+tc.name, jns
			c := &job.Spec.Template.Spec.Containers[0]
			c.Image = image
			if tc.args != nil {
				c.Args = tc.args
			}
			c.Args = append(c.Args, tc.extra...)
			jr := runJob(t, job)
			relLogf(t, "documented Job, %s (args %v): failed=%v, exit %d after %s; log:\n%s", tc.name, c.Args, jr.failed, jr.exitCode, jr.took.Round(100*time.Millisecond), jr.log)
			if jr.failed != tc.failed || jr.exitCode != tc.code {
				t.Errorf("Job %s: failed=%v exit %d, want failed=%v exit %d", job.Name, jr.failed, jr.exitCode, tc.failed, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(jr.log, w) {
					t.Errorf("the Job's log lacks %q", w)
				}
			}
		})
	}
	// The check cleaned up after itself both times: only what the test made
	// is left (the check's pod goes a moment after its Deployment).
	var left []string
	err = wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(context.Context) (bool, error) {
		left = nil
		for _, o := range relLeftovers(t, jns, "ServiceAccount/kbrun", "Role/kbrun-kaniko-rootless", "RoleBinding/kbrun", "ConfigMap/kbrun-pipeline",
			"Job/kbrun-passes", "Job/kbrun-fails", "Job/kbrun-compile") {
			if !strings.HasPrefix(o, "Pod/kbrun-passes-") && !strings.HasPrefix(o, "Pod/kbrun-fails-") && !strings.HasPrefix(o, "Pod/kbrun-compile-") {
				left = append(left, o)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("left in %s by the in-cluster runs: %v", jns, left)
	}
}
