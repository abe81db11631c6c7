package examples

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func kbrun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestGalleryPlans: every example validates and plans with its values;
// the plan (every task rendered, library tasks with their origin) is the
// golden one.
func TestGalleryPlans(t *testing.T) {
	dirs, _ := filepath.Glob("*/pipeline.yaml")
	if len(dirs) < 6 {
		t.Fatalf("the gallery has %d pipelines, want at least 6", len(dirs))
	}
	seen := map[string]bool{}
	for _, ex := range Gallery {
		seen[ex.Name] = true
		t.Run(ex.ID(), func(t *testing.T) {
			file := filepath.Join(ex.Name, "pipeline.yaml")
			args := ex.Args(".")
			if code, out, errOut := kbrun(t, append([]string{"validate", file}, args...)...); code != 0 {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut := kbrun(t, append([]string{"plan", file, "--run-id", "20000101000000-0000"}, args...)...)
			if code != 0 {
				t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
			}
			golden := filepath.Join("testdata", ex.ID()+".plan.golden")
			if *update {
				os.WriteFile(golden, []byte(out), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./examples -update writes it)", err)
			}
			if out != string(want) {
				t.Errorf("%s differs (go test ./examples -update rewrites it):\n%s", golden, out)
			}
		})
	}
	for _, d := range dirs {
		if !seen[filepath.Dir(d)] {
			t.Errorf("%s is not in the gallery's test list", d)
		}
	}
}
