//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kbrun/kbrun/examples"
)

// galleryRun runs one example with -o json; extra args come last.
func galleryRun(t *testing.T, ex examples.Example, extra ...string) result {
	t.Helper()
	dir := filepath.Join(repoRoot, "examples")
	args := append([]string{"run", ex.Pipeline(dir), "-o", "json"}, ex.Args(dir)...)
	return kbrun(t, append(args, extra...)...)
}

// ok checks that the named tasks ended ok (and the run passed).
func ok(t *testing.T, r result, tasks ...string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.summary())
	}
	for _, name := range append(tasks, "cleanup") {
		if e := r.ends[name]; e.Status != "ok" {
			t.Errorf("task %s: %+v, want ok\n%s", name, e, r.summary())
		}
	}
}

func output(r result, task, name string) string {
	return fmt.Sprint(r.ends[task].Outputs[name])
}

// namespaceGone checks that an example's namespace was deleted by its
// cleanup.
func namespaceGone(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the run: err=%v, want NotFound", ns, err)
	}
}

// crdGone checks that an example's CustomResourceDefinition (cluster-scoped,
// so not in its namespace) was deleted by its cleanup.
func crdGone(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, dyn, _ := relAdmin(t)
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("CRD %s after the run: err=%v, want NotFound", name, err)
	}
}

// TestGallery runs every pipeline of examples/ on the cluster (two at a
// time), and the variants that show their other branches: a failing
// migration Job, a canary that is rolled back. Each leaves nothing behind.
func TestGallery(t *testing.T) {
	byID := map[string]examples.Example{}
	for _, ex := range examples.Gallery {
		byID[ex.ID()] = ex
	}
	checks := map[string]func(t *testing.T, r result){
		"go-service": func(t *testing.T, r result) {
			ok(t, r, "compile", "image", "image.build", "deploy", "answers", "health", "logs")
			if d := output(r, "image", "digest"); !strings.HasPrefix(d, "sha256:") || output(r, "image", "image") != "localhost:5000/examples/greeter@"+d {
				t.Errorf("image outputs %v", r.ends["image"].Outputs)
			}
			if b := output(r, "answers", "body"); !strings.Contains(b, "Hello from the greeter") {
				t.Errorf("answer %q", b)
			}
			if v := output(r, "health", "value"); v != "v1.0.0" {
				t.Errorf("health version %q", v)
			}
			if pods, _ := r.ends["logs"].Outputs["pods"].([]any); len(pods) != 2 {
				t.Errorf("logs of %v, want both replicas", pods)
			}
		},
		"db-migration": func(t *testing.T, r result) {
			ok(t, r, "db", "migrate", "migrateLog", "version", "count")
			if v := output(r, "migrateLog", "v"); v != "0003" {
				t.Errorf("migrated to %q", v)
			}
			if e := r.ends["kept"]; e.Status != "skipped" {
				t.Errorf("kept: %+v, want skipped after a passing run", e)
			}
		},
		"blue-green": func(t *testing.T, r result) {
			ok(t, r, "blue", "blueLive", "green", "greenDirect", "greenStarted", "switch", "greenLive", "retireBlue")
			if v := output(r, "greenDirect", "value"); v != "v2" {
				t.Errorf("green's version %q", v)
			}
		},
		"canary": func(t *testing.T, r result) {
			ok(t, r, "stable", "canary", "allServing", "canaryCheck", "promote", "served")
			if e := r.ends["rollback"]; e.Status != "skipped" {
				t.Errorf("rollback %+v, want skipped", e)
			}
			if pods, _ := r.ends["allServing"].Outputs["pods"].([]any); len(pods) != 4 {
				t.Errorf("allServing passed %v, want 3 stable pods and the canary", pods)
			}
		},
		"smoke-test": func(t *testing.T, r result) {
			ok(t, r, "home", "needsToken", "status", "missing", "report")
			token, _ := os.ReadFile(filepath.Join(repoRoot, "examples", "testdata", "token"))
			for _, leak := range []string{string(token), base64.StdEncoding.EncodeToString(token)} {
				if strings.Contains(r.stdout+r.stderr, leak) {
					t.Errorf("the output shows %q", leak)
				}
			}
			if b := output(r, "status", "build"); b != "b-1024" {
				t.Errorf("build %q", b)
			}
		},
		"multi-arch": func(t *testing.T, r result) {
			ok(t, r, "compile", "inspect", "checksums", "copy", "hello")
			if p := output(r, "hello", "platform"); p != "linux/amd64" {
				t.Errorf("platform %q", p)
			}
		},
		"assertions": func(t *testing.T, r result) {
			ok(t, r, "app", "rollout", "pods", "images", "noCrash")
			if objs := fmt.Sprint(r.ends["rollout"].Outputs["objects"]); !strings.Contains(objs, "job/report") || !strings.Contains(objs, "deployment/web") || strings.Count(objs, "pod/web-") != 2 {
				t.Errorf("rollout matched %s, want the job, the deployment and its 2 pods", objs)
			}
		},
		"custom-resource": func(t *testing.T, r result) {
			ok(t, r, "crd", "established", "widget", "stored", "notStored", "removeWidget")
			if e := r.ends["tooBig"]; e.Status != "failed" || !strings.Contains(e.Error, "size must not exceed maxSize") {
				t.Errorf("tooBig %+v, want refused by the CRD's CEL rule", e)
			}
			crdGone(t, "widgets.gallery.kbrun.dev")
		},
		"job-result": func(t *testing.T, r result) {
			ok(t, r, "compile", "image", "image.build", "job", "done", "report", "removeJob", "reportGone")
			if i := output(r, "image", "image"); !strings.HasPrefix(i, "localhost:5000/examples/count@sha256:") {
				t.Errorf("the Job's image %q, want the one built, by digest", i)
			}
			if o := output(r, "report", "objects"); o != "[configmap/report]" {
				t.Errorf("report matched %s, want the Job's ConfigMap", o)
			}
		},
		"environments-dev": func(t *testing.T, r result) {
			ok(t, r, "podSecurity", "token", "app", "replicas", "config", "tokenMounted")
		},
		"environments-prod": func(t *testing.T, r result) {
			ok(t, r, "podSecurity", "token", "app", "replicas", "config", "tokenMounted")
			if v := output(r, "config", "value"); v != "warn" {
				t.Errorf("prod log level %q", v)
			}
		},
	}
	namespaces := map[string]string{"environments-dev": "ex-env-dev", "environments-prod": "ex-env-prod"}
	for id, check := range checks {
		ex, found := byID[id]
		if !found {
			t.Errorf("%s is not in examples.Gallery", id)
			continue
		}
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			r := galleryRun(t, ex)
			check(t, r)
			ns := namespaces[id]
			if ns == "" {
				ns = "ex-" + ex.Name
			}
			namespaceGone(t, ns)
		})
	}
	if len(checks) != len(examples.Gallery) {
		t.Errorf("%d checks for %d examples", len(checks), len(examples.Gallery))
	}

	// A migration that fails: the Job fails at once (backoffLimit 0), and
	// deploy says so without waiting for its timeout, quoting the pod.
	t.Run("db-migration-fails", func(t *testing.T) {
		t.Parallel()
		r := galleryRun(t, byID["db-migration"], "--set", "failAt=0002_add_email.sql", "--set", "keepOnFailure=false", "--set", "namespace=ex-db-migration-fails")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
		}
		m := r.ends["migrate"]
		for _, want := range []string{"failed (", "BackoffLimitExceeded", "container migrate terminated: Error, exit code 3",
			"last lines of its log:", "apply 0001_create_users.sql", "migration 0002_add_email.sql failed"} {
			if !strings.Contains(m.Error, want) {
				t.Errorf("migrate's error lacks %q:\n%s", want, m.Error)
			}
		}
		if m.Status != "failed" || time.Duration(m.Duration)*time.Millisecond > 45*time.Second {
			t.Errorf("migrate %s after %dms, want failed well before its 1m timeout", m.Status, m.Duration)
		}
		if r.ends["cleanup"].Status != "ok" || r.ends["kept"].Status != "skipped" {
			t.Errorf("cleanup %+v kept %+v", r.ends["cleanup"], r.ends["kept"])
		}
		namespaceGone(t, "ex-db-migration-fails")
	})

	// An assertion that cannot hold: the timeout names the closest live
	// object and its differences, field by field.
	t.Run("assertions-timeout", func(t *testing.T) {
		t.Parallel()
		r := galleryRun(t, byID["assertions"], "--set", "wantReplicas=3", "--set", "assertTimeout=20s", "--set", "namespace=ex-assertions-timeout")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.summary())
		}
		e := r.ends["rollout"]
		for _, want := range []string{"timed out (context deadline exceeded) waiting until every expected object matches; ",
			"deployment ex-assertions-timeout/web (", ") differs:\n", "status.availableReplicas: expected ${ self >= 3 }, got 2"} {
			if !strings.Contains(e.Error, want) {
				t.Errorf("rollout's error lacks %q:\n%s", want, e.Error)
			}
		}
		namespaceGone(t, "ex-assertions-timeout")
	})

	// A canary that answers wrong: its check fails as data, rollback runs
	// instead of promote, the run passes.
	t.Run("canary-rollback", func(t *testing.T) {
		t.Parallel()
		r := galleryRun(t, byID["canary"], "--set", "canaryAnswer=nope", "--set", "canaryTimeout=3s", "--set", "namespace=ex-canary-rollback")
		ok(t, r, "canary", "rollback", "served")
		if e := r.ends["canaryCheck"]; e.Status != "failed" || !strings.Contains(e.Error, `the body does not contain "nope"`) {
			t.Errorf("canaryCheck %+v", e)
		}
		if e := r.ends["promote"]; e.Status != "skipped" {
			t.Errorf("promote %+v, want skipped", e)
		}
		namespaceGone(t, "ex-canary-rollback")
	})

	// kbrun init's starter runs as written (with the cluster's busybox).
	t.Run("starter", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if r := kbrun(t, "init", dir, "--name", "kbrun-starter"); r.code != 0 {
			t.Fatalf("init: %d %s", r.code, r.stderr)
		}
		r := kbrun(t, "run", filepath.Join(dir, "pipeline.yaml"), "-o", "json", "--set", "image=kbrun.local/busybox:1.35")
		ok(t, r, "namespace", "web", "answers")
		namespaceGone(t, "kbrun-starter")
	})
}
