package ci

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// container is the part of a Kubernetes container both recipes set.
type container struct {
	Name         string   `yaml:"name"`
	Image        string   `yaml:"image"`
	Args         []string `yaml:"args"`
	WorkingDir   string   `yaml:"workingDir"`
	Env          []struct{ Name, Value string }
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	SecurityContext struct {
		RunAsNonRoot             bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type volume struct {
	Name                  string    `yaml:"name"`
	EmptyDir              *struct{} `yaml:"emptyDir"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"persistentVolumeClaim"`
}

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

// checkKbrunContainer: kbrun's image runs `run PIPELINE` with HOME on a
// writable emptyDir (its Dockerfile's requirement) and no privilege; every
// mount names a volume.
func checkKbrunContainer(t *testing.T, file string, c container, volumes []volume) {
	t.Helper()
	if c.Image == "" || len(c.Args) < 2 || c.Args[0] != "run" {
		t.Errorf("%s: the container must set image and args [run, PIPELINE, ...]: %+v", file, c)
	}
	sc := c.SecurityContext
	if !sc.RunAsNonRoot || sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: securityContext must be runAsNonRoot, no privilege escalation, drop ALL: %+v", file, sc)
	}
	names := map[string]volume{}
	for _, v := range volumes {
		names[v.Name] = v
	}
	home := false
	for _, m := range c.VolumeMounts {
		v, ok := names[m.Name]
		if !ok {
			t.Errorf("%s: volumeMount %s names no volume", file, m.Name)
		}
		home = home || (m.MountPath == "/tmp" && v.EmptyDir != nil)
	}
	if !home || !slices.Contains(c.Env, struct{ Name, Value string }{"HOME", "/tmp"}) {
		t.Errorf("%s: HOME=/tmp on an emptyDir is needed (the image's root is read-only to its user)", file)
	}
}

// TestTektonTask: the Task has what tekton.dev/v1 requires and every
// $(params.X) it uses is declared.
func TestTektonTask(t *testing.T) {
	const file = "tekton/kbrun-task.yaml"
	var task struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       struct {
			Description string `yaml:"description"`
			Params      []struct {
				Name, Description, Type string
				Default                 any `yaml:"default"`
			} `yaml:"params"`
			Workspaces []struct {
				Name, Description string
				ReadOnly          bool `yaml:"readOnly"`
			} `yaml:"workspaces"`
			Steps   []container `yaml:"steps"`
			Volumes []volume    `yaml:"volumes"`
		} `yaml:"spec"`
	}
	decodeStrict(t, file, &task)
	if task.APIVersion != "tekton.dev/v1" || task.Kind != "Task" || task.Metadata.Name == "" || len(task.Spec.Steps) != 1 {
		t.Fatalf("%s: want a tekton.dev/v1 Task with a name and one step: %+v", file, task)
	}
	params := map[string]string{}
	for _, p := range task.Spec.Params {
		if p.Type != "string" && p.Type != "array" {
			t.Errorf("%s: param %s has type %q", file, p.Name, p.Type)
		}
		params[p.Name] = p.Type
	}
	step := task.Spec.Steps[0]
	checkKbrunContainer(t, file, step, task.Spec.Volumes)
	text := strings.Join(append([]string{step.Image, step.WorkingDir}, step.Args...), " ")
	for _, m := range regexp.MustCompile(`\$\(params\.([a-z-]+)(\[\*\])?\)`).FindAllStringSubmatch(text, -1) {
		if typ, ok := params[m[1]]; !ok || (m[2] != "") != (typ == "array") {
			t.Errorf("%s: %s: no such param, or not used as its type (%q)", file, m[0], typ)
		}
	}
	if len(task.Spec.Workspaces) != 1 || step.WorkingDir != "$(workspaces."+task.Spec.Workspaces[0].Name+".path)" {
		t.Errorf("%s: the step must work in the source workspace", file)
	}
}

// TestArgoWorkflowTemplate: the WorkflowTemplate's entrypoint is one of its
// templates and every {{workflow.parameters.X}} it uses is declared.
func TestArgoWorkflowTemplate(t *testing.T) {
	const file = "argo/kbrun-workflowtemplate.yaml"
	var wt struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       struct {
			Entrypoint string `yaml:"entrypoint"`
			Arguments  struct {
				Parameters []struct{ Name, Description string } `yaml:"parameters"`
			} `yaml:"arguments"`
			Volumes   []volume `yaml:"volumes"`
			Templates []struct {
				Name      string    `yaml:"name"`
				Container container `yaml:"container"`
			} `yaml:"templates"`
		} `yaml:"spec"`
	}
	decodeStrict(t, file, &wt)
	if wt.APIVersion != "argoproj.io/v1alpha1" || wt.Kind != "WorkflowTemplate" || wt.Metadata.Name == "" {
		t.Fatalf("%s: want an argoproj.io/v1alpha1 WorkflowTemplate with a name: %+v", file, wt)
	}
	i := slices.IndexFunc(wt.Spec.Templates, func(tp struct {
		Name      string    `yaml:"name"`
		Container container `yaml:"container"`
	}) bool {
		return tp.Name == wt.Spec.Entrypoint
	})
	if i < 0 {
		t.Fatalf("%s: entrypoint %q is none of the templates", file, wt.Spec.Entrypoint)
	}
	c := wt.Spec.Templates[i].Container
	checkKbrunContainer(t, file, c, wt.Spec.Volumes)
	declared := map[string]bool{}
	for _, p := range wt.Spec.Arguments.Parameters {
		declared[p.Name] = true
	}
	used := c.Image + " " + strings.Join(c.Args, " ")
	for _, v := range wt.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			used += " " + v.PersistentVolumeClaim.ClaimName
		}
	}
	for _, m := range regexp.MustCompile(`\{\{workflow\.parameters\.([a-z-]+)\}\}`).FindAllStringSubmatch(used, -1) {
		if !declared[m[1]] {
			t.Errorf("%s: %s: no such parameter", file, m[0])
		}
	}
}
