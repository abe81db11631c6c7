//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestImageDiffers: the tolerant kind's RUN swallows a failed chown, so
// Kaniko without CHOWN exits 0 and pushes an image whose /app is root's:
// its cell reads image differs naming /app (its expect file holds all the
// same), never OK. With the seed's four Kaniko fails loudly (it cannot
// unlink /app/f, now 1000's, without DAC_OVERRIDE). The ladder then
// recommends CHOWN and DAC_OVERRIDE, not the empty set that "built", and
// its trim finds that without CHOWN the image differs. The secret kind
// fails loudly without DAC_OVERRIDE. The locked kind (a RUN leaves a mode
// 000 file) is the silent loss: Kaniko without DAC_OVERRIDE exits 0 and
// pushes an image that has lost most of its files, even the base's
// (/bin); both small sets read image differs.
func TestImageDiffers(t *testing.T) {
	r, cells, at := measureCapabilities(t, "--set", "kinds=[tolerant,secret,locked]", "--set",
		"capabilitySets=[{name: none, builder: kaniko, add: []}, {name: seed, builder: kaniko, add: [CHOWN,SETUID,SETGID,FOWNER]}, {name: shipwright, builder: kaniko, add: [CHOWN,DAC_OVERRIDE,FOWNER,SETGID,SETUID,SETFCAP,KILL]}]")
	if len(cells) != 9 {
		t.Fatalf("%d cells, want 9", len(cells))
	}
	want := map[string]string{
		"none,tolerant": "image differs", "seed,tolerant": "fails", "shipwright,tolerant": "ok",
		"none,secret": "fails", "seed,secret": "fails", "shipwright,secret": "ok",
		"none,locked": "image differs", "seed,locked": "image differs", "shipwright,locked": "ok",
	}
	for _, c := range cells {
		t.Logf("%s: %s %s", c.Cell, c.Result, c.Short)
		if w := want[c.Set.Name+","+c.Kind]; c.Result != w {
			t.Errorf("%s: %s %q, want %s\n%s", c.Cell, c.Result, c.Short, w, c.Error)
		}
	}
	if c := at["none,tolerant"]; !strings.Contains(c.Short, "/app") {
		t.Errorf("none,tolerant: %q does not name /app", c.Short)
	}
	if c := at["seed,secret"]; !strings.Contains(c.Short+c.Error, "/data/secret") {
		t.Errorf("seed,secret: %q does not name /data/secret", c.Short)
	}
	for _, k := range []string{"none,locked", "seed,locked"} {
		if c := at[k]; !strings.Contains(c.Short+c.Error, "missing") {
			t.Errorf("%s: %q does not say what is missing", k, c.Short)
		}
	}
	assertProbesGone(t, "kbrun-capabilities")

	base, _ := r.ends["bases"].Outputs["base"].(string)
	if base == "" {
		t.Fatalf("the matrix run's bases task gave no base image: %+v", r.ends["bases"])
	}
	_, v := runLadder(t, "tolerant", "--set", "buildArgs=[BASE="+base+"]")
	if v.Needs == nil {
		t.Fatalf("no verdict: %s", v.Verdict)
	}
	rungs := map[string]string{}
	for _, p := range v.Ladder {
		rungs[p.Set.Name] = p.Result
	}
	if rungs["none"] != "image differs" {
		t.Errorf("ladder: none reads %q, want image differs (%v)", rungs["none"], rungs)
	}
	if got := strings.Join(v.Needs.Add, ","); got != "CHOWN,DAC_OVERRIDE" {
		t.Errorf("verdict %q: needs %s, want CHOWN,DAC_OVERRIDE", v.Verdict, got)
	}
	for _, p := range v.Trim {
		if p.Set.Name == "without-chown" && p.Result != "image differs" {
			t.Errorf("trim: without CHOWN reads %q, want image differs", p.Result)
		}
	}
}

// TestCapabilitiesAuto: capabilities=auto measures the least set for the
// multi-stage context (DAC_OVERRIDE), builds with it and remembers it in a
// ConfigMap; a second run with the same context reuses it without a single
// probe build.
func TestCapabilitiesAuto(t *testing.T) {
	const ns = "kbrun-e2e-verdicts"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	kind := filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds", "multistage")
	args := []string{"--set", "context=" + kind, "--set", "capabilities=auto", "--set", "verdictNamespace=" + ns}
	chosen := func(r result) string {
		for _, e := range r.events {
			if strings.HasSuffix(e.Task, "chosen") && e.Type == "task.output" {
				return e.Line
			}
		}
		return ""
	}
	first := runPipeline(t, args...)
	if first.code != 0 {
		t.Fatalf("first run: exit %d\n%s", first.code, first.summary())
	}
	line := chosen(first)
	t.Logf("first run (%s): %s", first.duration.Round(100*time.Millisecond), line)
	if first.ends["privilege.measure"].Status != "ok" || !strings.Contains(line, `capabilities: ["DAC_OVERRIDE"]`) || !strings.Contains(line, "measured now") {
		t.Errorf("first run: measure %s, chosen %q", first.ends["privilege.measure"].Status, line)
	}
	for name, want := range map[string]string{"build": "ok", "checkImage": "ok"} {
		if got := first.ends[name].Status; got != want {
			t.Errorf("first run: task %s %s, want %s", name, got, want)
		}
	}
	cms, err := client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "kbrun.dev/remembered=true"})
	if err != nil || len(cms.Items) != 1 || cms.Items[0].Data["capabilities"] != `["DAC_OVERRIDE"]` {
		t.Fatalf("the remembered verdict: %v %+v", err, cms)
	}

	second := runPipeline(t, args...)
	if second.code != 0 {
		t.Fatalf("second run: exit %d\n%s", second.code, second.summary())
	}
	line = chosen(second)
	t.Logf("second run (%s): %s", second.duration.Round(100*time.Millisecond), line)
	if second.ends["privilege.measure"].Status != "skipped" || !strings.Contains(line, "remembered by run") || !strings.Contains(line, `capabilities: ["DAC_OVERRIDE"]`) {
		t.Errorf("second run: measure %s, chosen %q", second.ends["privilege.measure"].Status, line)
	}
	if second.ends["build"].Status != "ok" {
		t.Errorf("second run: build %+v", second.ends["build"])
	}
	assertGone(t)
}
