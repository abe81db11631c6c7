package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInit: kbrun init writes a starter pipeline that validates and plans
// as written, named after its folder, with the schema its editor line
// names beside it (the same as kbrun schema prints); it never overwrites a
// file without --force.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My Team_App")
	code, out, errOut := kbrun("init", dir)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(dir, "pipeline.yaml")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "# yaml-language-server: $schema=kbrun.schema.json\n") || !strings.Contains(string(body), "name: my-team-app\n") {
		t.Errorf("starter:\n%s", body)
	}
	_, want, _ := kbrun("schema")
	if got, err := os.ReadFile(filepath.Join(dir, "kbrun.schema.json")); err != nil || string(got) != want {
		t.Errorf("kbrun.schema.json is not kbrun schema's output (%v)", err)
	}
	if code, out, errOut := kbrun("validate", file); code != 0 || out != file+": valid\n" {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = kbrun("plan", file, "--run-id", "20000101000000-0000")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"1. namespace (apply)", "2. web (deploy)", "deployment my-team-app/web, service my-team-app/web", "3. answers (http)", `GET / on service my-team-app/web port 80`, `contains "hello from kbrun"`, "F1. cleanup (delete)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	os.WriteFile(file, []byte("mine"), 0o644)
	if code, _, errOut := kbrun("init", dir); code != 2 || !strings.Contains(errOut, "pipeline.yaml exists: kbrun init leaves it alone") {
		t.Errorf("second init: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != "mine" {
		t.Errorf("init overwrote the user's file")
	}
	if code, _, errOut := kbrun("init", dir, "--force", "--name", "other"); code != 0 {
		t.Errorf("--force: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "name: other\n") {
		t.Errorf("--force --name did not write:\n%s", b)
	}
	if code, _, errOut := kbrun("init", t.TempDir(), "--name", "Bad_Name"); code != 2 || !strings.Contains(errOut, "is a DNS label") {
		t.Errorf("bad name: exit %d\n%s", code, errOut)
	}
}

// TestInitFolderNames: whatever the folder is called, init writes a
// pipeline that validate accepts, named by a DNS label made from the
// folder's name; names YAML would read as a number, a boolean or null are
// quoted where they are written.
func TestInitFolderNames(t *testing.T) {
	long := strings.Repeat("abcdefghij", 7) // 70 characters
	tests := []struct{ folder, name string }{
		{"2024", `"2024"`},
		{"true", `"true"`},
		{"False", `"false"`},
		{"null", `"null"`},
		{"Null", `"null"`},
		{"~", "pipeline"},
		{"007", `"007"`},
		{"0x1F", `"0x1f"`},
		{"1e3", `"1e3"`},
		{"0o17", `"0o17"`},
		{"yes", `"yes"`}, // a boolean to YAML 1.1 readers
		{"My_App", "my-app"},
		{"my app", "my-app"},
		{"  spaced  out  ", "spaced-out"},
		{"v1.2.3", "v1-2-3"},
		{".hidden", "hidden"},
		{"-lead-", "lead"},
		{"Café Crème", "cafe-creme"},
		{"日本語", "pipeline"},
		{"app-日本", "app"},
		{long, long[:63]},
		{strings.Repeat("a", 62) + "_b", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		t.Run(tt.folder, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.folder)
			if code, out, errOut := kbrun("init", dir); code != 0 {
				t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
			}
			file := filepath.Join(dir, "pipeline.yaml")
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), "\n  name: "+tt.name+"\n") || !strings.Contains(string(body), "\n    default: "+tt.name+"\n") {
				t.Errorf("want name and namespace %s:\n%s", tt.name, body)
			}
			if code, out, errOut := kbrun("validate", file); code != 0 || out != file+": valid\n" {
				t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
