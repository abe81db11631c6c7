// Package examples holds kbrun's gallery of team pipelines (see
// README.md). Its tests check them without a cluster: each validates, and
// its plan matches a golden file (go test ./examples -update rewrites
// them); test/e2e runs each on a real cluster.
package examples

import (
	"path/filepath"
	"sort"
	"strings"
)

// Example is one pipeline of the gallery with the values its required
// vars take in the tests.
type Example struct {
	Name string
	// Values is a values file (-f), relative to this folder.
	Values string
	// SetFiles are vars read from files (--set-file), relative to this
	// folder.
	SetFiles map[string]string
}

// ID names the example with its values file: environments-prod.
func (e Example) ID() string {
	if e.Values == "" {
		return e.Name
	}
	return e.Name + "-" + strings.TrimSuffix(filepath.Base(e.Values), ".yaml")
}

// Pipeline is the pipeline file, below dir (this folder).
func (e Example) Pipeline(dir string) string { return filepath.Join(dir, e.Name, "pipeline.yaml") }

// Args are the kbrun arguments of the example's values, with paths below
// dir (this folder).
func (e Example) Args(dir string) []string {
	var out []string
	if e.Values != "" {
		out = append(out, "-f", filepath.Join(dir, e.Values))
	}
	names := make([]string, 0, len(e.SetFiles))
	for n := range e.SetFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, "--set-file", n+"="+filepath.Join(dir, e.SetFiles[n]))
	}
	return out
}

// Gallery lists every example, as the tests run them.
var Gallery = []Example{
	{Name: "go-service"},
	{Name: "db-migration"},
	{Name: "blue-green"},
	{Name: "canary"},
	{Name: "smoke-test", SetFiles: map[string]string{"token": "testdata/token"}},
	{Name: "multi-arch"},
	{Name: "assertions"},
	{Name: "custom-resource"},
	{Name: "job-result"},
	{Name: "environments", Values: "environments/values/dev.yaml", SetFiles: map[string]string{"apiToken": "testdata/token"}},
	{Name: "environments", Values: "environments/values/prod.yaml", SetFiles: map[string]string{"apiToken": "testdata/token"}},
}
