package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWordingCorpus: each file of testdata/wording is a value that made
// a Go internal show through (YAML's .nan and .inf, a field read off a
// number, arithmetic with a map, len of a number, a printf verb that does
// not fit, a negative duration); each exits 2 at its FILE:LINE:COL, in
// the pipeline's words.
func TestWordingCorpus(t *testing.T) { checkCorpus(t, "testdata/wording", 10) }

// goInternals are phrases of Go's runtime, reflect, fmt, text/template and
// the schema library that mean nothing to a pipeline's author.
var goInternals = []string{
	"jsonType", "nil pointer", "<no value>", "interface {}", "interface{}",
	"map[string]", "[]interface", "reflect", "%!", "<nil>", "float64",
	"int64", "can't evaluate", "len of type", "goroutine", "runtime error",
}

// TestNoGoInternals runs validate on every file of every corpus, invalid
// ones and valid controls, and finds none of goInternals in what it
// prints.
func TestNoGoInternals(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	var files []string
	for _, pattern := range []string{
		"../../../engine/load/testdata/*/*.yaml",
		"testdata/*/*.yaml",
		"testdata/*/valid/*.yaml",
		"testdata/*.yaml",
	} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 250 {
		t.Fatalf("found %d corpus files, want every corpus", len(files))
	}
	for _, f := range files {
		args := []string{"validate", f}
		if b, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".args"); err == nil {
			args = append(args, strings.Fields(string(b))...)
		}
		_, out, errOut := kbrun(args...)
		for _, phrase := range goInternals {
			if strings.Contains(out+errOut, phrase) {
				t.Errorf("%s: the output says %q:\n%s%s", f, phrase, out, errOut)
			}
		}
	}
}
