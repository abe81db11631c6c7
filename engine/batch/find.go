// Package batch runs many pipelines in one kbrun run: it finds them in
// folders, selects them by label or by a previous report, runs them
// (several at once with Parallel, stopping new starts after a failure with
// FailFast), keeps each one's lines apart under its name, and reports them
// together: a summary table, one JUnit file, a Markdown summary for CI.
//
// How one pipeline runs (its cluster clients, its Lease) is the caller's:
// a batch only orders, labels and collects.
package batch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
)

// Path is one pipeline file to load. Named is true when it was given on
// the command line rather than found in a folder: a named file that is not
// a pipeline is an error, a found one is skipped.
type Path struct {
	File  string
	Named bool
}

// kindPipeline finds a top-level `kind: Pipeline` line. It is read from the
// text, not the YAML, so that a pipeline with a syntax error is still found
// (and its problems reported) rather than skipped as not a pipeline.
var kindPipeline = regexp.MustCompile(`(?m)^kind:[ \t]*["']?` + pipeline.Kind + `["']?[ \t]*(#.*)?\r?$`)

// Find expands args, files and folders, into the pipeline files to load:
// a file as it is, a folder into every *.yaml and *.yml under it, at any
// depth, that declares kind: Pipeline (libraries of tasks and values files
// do not), in lexical order. A file given twice is loaded once.
func Find(args []string) ([]Path, error) {
	var out []Path
	seen := map[string]bool{}
	add := func(file string, named bool) {
		abs, err := filepath.Abs(file)
		if err != nil {
			abs = file
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, Path{File: file, Named: named})
		}
	}
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil || !info.IsDir() {
			add(arg, true) // the loader says why it cannot be read
			continue
		}
		found := 0
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != arg && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir // .git and the like
				}
				return nil
			}
			if ext := filepath.Ext(path); (ext == ".yaml" || ext == ".yml") && d.Type().IsRegular() && isPipeline(path) {
				found++
				add(path, false)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		if found == 0 {
			return nil, fmt.Errorf("%s: no pipeline file (kind: %s) in this folder or under it", arg, pipeline.Kind)
		}
	}
	return out, nil
}

func isPipeline(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return true // loading it says why it cannot be read
	}
	return kindPipeline.Match(data)
}
