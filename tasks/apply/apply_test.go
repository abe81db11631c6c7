package apply

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/task"
)

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "d.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ones}\n"), 0o644)
	a, err := Type{}.Prepare(task.Params{Value: map[string]any{"files": []any{"d.yaml"}, "namespace": "ones", "force": true}, Dir: dir, Manifests: prepare.Reader(dir, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Describe(); got != "server-side apply d.yaml: deployment ones/web, namespace ones, forcing conflicts" {
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
