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

// TestSilentLoss: the secret kind leaves a populated 0700 folder of
// another user; under a set without DAC_OVERRIDE Kaniko's image is not the
// reference's (Shipwright's set) and the cell reads image differs, naming
// the path, never OK; with DAC_OVERRIDE it is the same image. Then the
// ladder's verdict for it is a set whose image equals the reference.
func TestSilentLoss(t *testing.T) {
	_, cells, at := measureCapabilities(t, "--set", "kinds=[secret]", "--set",
		"capabilitySets=[{name: seed, builder: kaniko, add: [CHOWN,SETUID,SETGID,FOWNER]}, {name: dac, builder: kaniko, add: [CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE]}, {name: shipwright, builder: kaniko, add: [CHOWN,DAC_OVERRIDE,FOWNER,SETGID,SETUID,SETFCAP,KILL]}]")
	if len(cells) != 3 {
		t.Fatalf("%d cells, want 3", len(cells))
	}
	for _, c := range cells {
		t.Logf("%s: %s %s", c.Cell, c.Result, c.Short)
	}
	if c := at["seed,secret"]; c.Result != "image differs" || !strings.Contains(c.Short, "/data/secret") {
		t.Errorf("seed,secret: %s %q, want image differs naming /data/secret\n%s", c.Result, c.Short, c.Error)
	}
	for _, ok := range []string{"dac,secret", "shipwright,secret"} {
		if c := at[ok]; c.Result != "ok" {
			t.Errorf("%s: %s %q, want ok (the reference's image)", ok, c.Result, c.Short)
		}
	}
	assertProbesGone(t, "kbrun-capabilities")

	_, v := runLadder(t, "secret")
	if v.Needs == nil {
		t.Fatalf("no verdict: %s", v.Verdict)
	}
	for _, p := range v.Ladder {
		if p.Result == "ok" {
			break
		}
		if p.Result == "image differs" {
			t.Logf("ladder: %s image differs (%s), not taken", p.Set.Name, p.Short)
		}
	}
	if !strings.Contains(strings.Join(v.Needs.Add, ","), "DAC_OVERRIDE") {
		t.Errorf("verdict %q: needs %v, want a set with DAC_OVERRIDE", v.Verdict, v.Needs.Add)
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
