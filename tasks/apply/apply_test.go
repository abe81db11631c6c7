package apply

import (
	"testing"

	"github.com/kbrun/kbrun/engine/task"
)

func TestDescribe(t *testing.T) {
	a, err := Type{}.Prepare(task.Params{Value: map[string]any{"files": []any{"k8s/kaniko-rootless-demo-deployment.yaml"}, "namespace": "ones", "force": true}, Dir: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Describe(); got != "server-side apply k8s/kaniko-rootless-demo-deployment.yaml in namespace ones, forcing conflicts" {
		t.Fatal(got)
	}
	if _, err := (Type{}).Prepare(task.Params{Value: map[string]any{}}); err == nil {
		t.Fatal("no sources accepted")
	}
}

func TestCheckMissingFile(t *testing.T) {
	errs := Type{}.Check(task.Params{Value: map[string]any{"files": []any{"nope.yaml", "{{ .vars.f }}"}}, Dir: t.TempDir()})
	if len(errs) != 1 || errs[0].Path[1] != "0" {
		t.Fatalf("%v", errs)
	}
}
