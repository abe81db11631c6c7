package pipelines

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kbrun/kbrun/engine/tmpl"
)

// TestProbePipelines: the capability matrix and the least-privilege ladder
// validate, and their plans (every cell of the matrix, the ladder's rungs)
// match golden files.
func TestProbePipelines(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
		want   []string
	}{
		{"", []string{"plan", "kaniko-capabilities.yaml"}, []string{
			"cells[nopriv,copy]", "cells[userns,daemon]", "run 88 cells of the matrix set × kind, 4 at once; a failing cell is recorded, the others go on",
		}},
		{"kaniko-capabilities.plan.golden", []string{"plan", "kaniko-capabilities.yaml", "--set", "kinds=[copy,multistage]"}, []string{
			"cells[seed,multistage]", "run 16 cells",
		}},
		// Each cell's builder as rendered: the set's capabilities, the user
		// namespace, the no-privilege builder as non-root.
		{"", []string{"plan", "kaniko-capabilities.yaml", "--set", "kinds=[copy]", "--show-manifests"}, []string{
			`add: ["CHOWN","DAC_OVERRIDE","FOWNER","SETGID","SETUID","SETFCAP","KILL"]`, "hostUsers: false", "runAsNonRoot: true", `add: []`,
		}},
		{"kaniko-least-privilege.plan.golden", []string{"plan", "kaniko-least-privilege.yaml", "--set", "context=kaniko-capabilities/kinds/multistage"}, []string{
			"ladder[nopriv]", "ladder[shipwright]", "run 6 cells of the matrix set, 1 at once", `no further cell starts once {{ eq (get .cell "result") "ok" }}`,
		}},
	} {
		code, out, errOut := kbrun(t, append(c.args, "--run-id", "20000101000000-0000")...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", c.args, code, out, errOut)
		}
		if c.golden != "" {
			golden(t, c.golden, normalize(t, out+errOut))
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: plan lacks %q", c.args, w)
			}
		}
	}
	for _, f := range []string{"kaniko-capabilities.yaml", "lib/probe-build.yaml"} {
		if code, out, errOut := kbrun(t, "validate", f); code != 0 {
			t.Errorf("validate %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
	// The ladder needs the team's context.
	if code, _, errOut := kbrun(t, "validate", "kaniko-least-privilege.yaml"); code != 2 || !strings.Contains(errOut, "context") {
		t.Errorf("validate without context: exit %d\n%s", code, errOut)
	}
}

// TestBuildtoolsModule vets and tests the probes' own Go module (imagetool,
// matrixreport), which kbrun's ./... does not include.
func TestBuildtoolsModule(t *testing.T) {
	// go test puts its own toolchain's bin first on PATH.
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = "buildtools"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %v in pipelines/buildtools: %v\n%s", args, err, out)
		}
	}
}

// TestDefaultPipelineOwnContext: one var builds a team's own context and
// Dockerfile with the default pipeline; the image is then checked, not run.
func TestDefaultPipelineOwnContext(t *testing.T) {
	code, out, errOut := kbrun(t, "plan", "kaniko-rootless.yaml", "--run-id", "20000101000000-0000",
		"--set", "context=kaniko-capabilities/kinds/multistage", "--set", "buildArgs=[A=1,B=2]", "--set", "expect=kaniko-capabilities/kinds/multistage/expect")
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"-dockerfile=context/Dockerfile", "-context=context", "-build-args=A=1,B=2",
		"copy kaniko-capabilities/kinds/multistage to /workspace/context",
		"check -image=registry.kbrun-registry.svc.cluster.local:5000/new-kaniko-rootless-image@<tasks.build.digest>",
		`test (deploy) [skipped: when "{{ eq .vars.context \"\" }}" is "false"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

// TestLadderTemplates: the trim and verify steps of the least-privilege
// ladder compute their sets from the ladder's cells: each capability of the
// first set that built dropped in turn, then all droppable ones at once.
func TestLadderTemplates(t *testing.T) {
	text, err := os.ReadFile("lib/least-privilege.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tasks []struct {
			Name   string         `yaml:"name"`
			When   string         `yaml:"when"`
			Matrix map[string]any `yaml:"matrix"`
		} `yaml:"tasks"`
	}
	if err := yaml.Unmarshal(text, &file); err != nil {
		t.Fatal(err)
	}
	tpl := map[string]string{}
	for _, tk := range file.Tasks {
		set, _ := tk.Matrix["set"].(string)
		tpl[tk.Name+".when"], tpl[tk.Name+".set"] = tk.When, set
	}
	cell := func(result string, set map[string]any) map[string]any {
		return map[string]any{"status": "ok", "result": result, "matrix": map[string]any{"set": set}}
	}
	seedDac := map[string]any{"name": "dac", "builder": "kaniko", "add": []any{"CHOWN", "DAC_OVERRIDE"}, "hostUsers": false}
	ladder := []any{
		cell("n/a", map[string]any{"name": "nopriv", "builder": "nopriv", "add": []any{}}),
		cell("fails", map[string]any{"name": "none", "builder": "kaniko", "add": []any{}}),
		cell("ok", seedDac),
		map[string]any{"status": "skipped"},
	}
	data := map[string]any{"tasks": map[string]any{"ladder": map[string]any{"cells": ladder}}}
	render := func(name string) string {
		t.Helper()
		out, err := tmpl.Render(name, tpl[name], data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return strings.TrimSpace(out)
	}
	if got := render("trim.when"); got != "true" {
		t.Errorf("trim.when = %q", got)
	}
	want := `[{"add":["DAC_OVERRIDE"],"builder":"kaniko","drop":"CHOWN","hostUsers":false,"name":"without-chown"},{"add":["CHOWN"],"builder":"kaniko","drop":"DAC_OVERRIDE","hostUsers":false,"name":"without-dac-override"}]`
	if got := render("trim.set"); got != want {
		t.Errorf("trim.set = %s\nwant %s", got, want)
	}
	var trim []any
	if err := json.Unmarshal([]byte(want), &trim); err != nil {
		t.Fatal(err)
	}
	data["tasks"].(map[string]any)["trim"] = map[string]any{"cells": []any{cell("ok", trim[0].(map[string]any)), cell("fails", trim[1].(map[string]any))}}
	if got := render("verify.when"); got != "false" {
		t.Errorf("verify.when with one droppable = %q", got)
	}
	if got := render("verify.set"); got != `[{"add":["DAC_OVERRIDE"],"builder":"kaniko","hostUsers":false,"name":"needed"}]` {
		t.Errorf("verify.set = %s", got)
	}
	// The ladder starts only with a reference image to judge by.
	for want, cells := range map[string][]any{
		"true":  {cell("fails", nil), cell("ok", nil)},
		"false": {cell("fails", nil), map[string]any{"status": "skipped"}},
	} {
		data["tasks"].(map[string]any)["reference"] = map[string]any{"cells": cells}
		if got := render("ladder.when"); got != want {
			t.Errorf("ladder.when with reference cells %v = %q, want %s", cells, got, want)
		}
	}
	// The no-privilege builder built it: no trim.
	ladder[0] = cell("ok", map[string]any{"name": "nopriv", "builder": "nopriv", "add": []any{}})
	if got := render("trim.when"); got != "false" {
		t.Errorf("trim.when after nopriv = %q", got)
	}
}
