package compile_test

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/compile"
)

func writeProgram(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/p\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(body), 0o644)
	return dir
}

func TestCompile(t *testing.T) {
	dir := writeProgram(t, "package main\n\nfunc main() { println(\"hi\") }\n")
	out := filepath.Join(t.TempDir(), "bin", "p")
	a, err := compile.Type{}.Prepare(task.Params{Dir: dir, Rendered: true, Value: map[string]any{
		"package": ".", "output": out, "goos": "linux", "goarch": "amd64", "cgo": false, "ldflags": "-s -w",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d := a.Describe(); d != "go build . for linux/amd64 (cgo off) -> "+out {
		t.Errorf("describe: %q", d)
	}
	var logs bytes.Buffer
	res, err := a.Run(context.Background(), &task.Env{Task: "c", Stdout: io.Discard, Stderr: io.Discard, Logf: func(f string, args ...any) { logs.WriteString(f) }})
	if err != nil {
		t.Fatal(err)
	}
	if res["path"] != out || len(res["sha256"].(string)) != 64 || res["size"].(int64) == 0 {
		t.Fatalf("outputs %v", res)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v, want amd64", f.Machine)
	}
	st, _ := os.Stat(out)
	if st.Mode()&0o111 == 0 {
		t.Errorf("binary is not executable: %v", st.Mode())
	}
}

func TestCompileError(t *testing.T) {
	tempCache(t)
	dir := writeProgram(t, "package main\n\nfunc main() { undefinedThing() }\n")
	a, _ := compile.Type{}.Prepare(task.Params{Dir: dir, Rendered: true, Value: map[string]any{"package": "."}})
	work := t.TempDir()
	_, err := a.Run(context.Background(), &task.Env{Task: "c", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {}, WorkDir: func() (string, error) { return work, nil }})
	if err == nil || !strings.Contains(err.Error(), "undefined: undefinedThing") {
		t.Fatalf("err = %v", err)
	}
}

// Without go on PATH a compile task is refused when the pipeline is
// checked, and in a pod the message says why the image cannot do it.
func TestCheckWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := task.Params{Value: map[string]any{"package": "."}, Dir: "."}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	fes := compile.Type{}.Check(p)
	if len(fes) != 1 || !strings.Contains(fes[0].Message, `"go" is not on PATH (install Go`) {
		t.Errorf("outside a pod: %+v", fes)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	fes = compile.Type{}.Check(p)
	if len(fes) != 1 || !strings.Contains(fes[0].Message, "kbrun runs in a pod whose image has no Go") {
		t.Errorf("in a pod: %+v", fes)
	}
}
