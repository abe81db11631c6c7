// Package compile is the `compile` task type: `go build` of one package for
// a target platform, the binary's path becoming the task's output.
package compile

import (
	"cmp"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/valid"
)

//go:embed schema.json
var schema []byte

// Type is the compile task type.
type Type struct{}

// Params are the compile task's parameters.
type Params struct {
	// Package is the directory of the main package, relative to the pipeline.
	Package string `json:"package"`
	// Output is where the binary goes; default a per-run work folder, the
	// binary coming from the compile cache (cache.go).
	Output  string            `json:"output,omitempty"`
	GOOS    string            `json:"goos,omitempty"`
	GOARCH  string            `json:"goarch,omitempty"`
	CGO     *bool             `json:"cgo,omitempty"`
	LDFlags string            `json:"ldflags,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

func (Type) Name() string { return "compile" }
func (Type) Summary() string {
	return "`go build` of a package for a target OS/arch (cgo, ldflags, tags, env); the binary's path is the output"
}
func (Type) Schema() json.RawMessage { return schema }
func (Type) Outputs() []string       { return []string{"path", "sha256", "size"} }

// Check implements task.Checker: a Go toolchain must be at hand and the
// package folder must exist.
func (Type) Check(p task.Params) []task.FieldError {
	if fe := toolchain(); fe != nil {
		return []task.FieldError{*fe}
	}
	m, _ := p.Value.(map[string]any)
	pkg, _ := m["package"].(string)
	if pkg == "" || tmpl.Has(pkg) {
		return nil
	}
	if err := packageDir(p, pkg); err != nil {
		return []task.FieldError{{Path: []string{"package"}, Message: err.Error()}}
	}
	return nil
}

// packageDir checks that the package folder exists, so that a missing one
// (from a var, or an output known only at run time) is reported as such,
// before go is started in it.
func packageDir(p task.Params, pkg string) error {
	if err := p.Local(pkg, "package folder", false); err != nil {
		return err
	}
	if st, err := os.Stat(p.Path(pkg)); err == nil && !st.IsDir() {
		return fmt.Errorf("%q is a file; give the folder of the main package", pkg)
	}
	return nil
}

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	ps.Check([]string{"package"}, params.Package, func(pkg string) error { return packageDir(p, pkg) })
	checkPlatform(&ps, params)
	for i, tag := range params.Tags {
		ps.Check([]string{"tags", strconv.Itoa(i)}, tag, valid.BuildTag)
	}
	for _, k := range slices.Sorted(maps.Keys(params.Env)) {
		if err := valid.EnvName(k); err != nil {
			ps.Add([]string{"env", k}, err)
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	a := &action{Params: params, pkgDir: p.Path(params.Package)}
	if params.Output != "" {
		a.output = p.Path(params.Output)
		if !task.IsUnknown(params.Output) {
			// Found now, not after the build.
			if err := task.Writable(a.output, true); err != nil {
				return nil, task.Fieldf([]string{"output"}, "the binary cannot be written to %s: %v", params.Output, err)
			}
		}
	}
	return a, nil
}

// checkPlatform checks the target, as go build will see it: goos and
// goarch, or GOOS and GOARCH in env (which win, coming later).
func checkPlatform(ps *task.Problems, params Params) {
	goos, goarch := cmp.Or(params.Env["GOOS"], params.GOOS), cmp.Or(params.Env["GOARCH"], params.GOARCH)
	if task.IsUnknown(goos) || task.IsUnknown(goarch) {
		return
	}
	osField, archField := []string{"goos"}, []string{"goarch"}
	if params.Env["GOOS"] != "" {
		osField = []string{"env", "GOOS"}
	}
	if params.Env["GOARCH"] != "" {
		archField = []string{"env", "GOARCH"}
	}
	if goos != "" {
		if err := valid.GOOS(goos); err != nil {
			ps.Add(osField, err)
			if goarch != "" { // no pair to check, but the arch alone
				ps.Check(archField, goarch, valid.GOARCH)
			}
			return
		}
	}
	if err := valid.Platform(goos, goarch); err != nil {
		if goarch == "" {
			archField = osField // the host's arch does not go with goos
		}
		ps.Add(archField, err)
	}
}

type action struct {
	Params
	pkgDir string
	output string // "" until Run picks the work folder
}

func (a *action) target() string {
	goos, goarch := a.GOOS, a.GOARCH
	if goos == "" {
		goos = "host OS"
	}
	if goarch == "" {
		goarch = "host arch"
	}
	return goos + "/" + goarch
}

// Describe implements task.Action.
func (a *action) Describe() string {
	out := a.output
	if out == "" {
		out = "<work dir>/" + filepath.Base(a.pkgDir) + " (from the compile cache: linked only if changed)"
	}
	cgo := "on"
	if a.CGO != nil && !*a.CGO {
		cgo = "off"
	}
	return fmt.Sprintf("go build %s for %s (cgo %s) -> %s", a.Package, a.target(), cgo, out)
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	environ := os.Environ()
	if a.GOOS != "" {
		environ = append(environ, "GOOS="+a.GOOS)
	}
	if a.GOARCH != "" {
		environ = append(environ, "GOARCH="+a.GOARCH)
	}
	if a.CGO != nil {
		environ = append(environ, "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[*a.CGO])
	}
	for k, v := range a.Env {
		environ = append(environ, k+"="+v)
	}
	if a.output != "" {
		return a.build(ctx, env, a.output, environ)
	}
	work, err := env.WorkDir()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(work, env.Task, filepath.Base(a.pkgDir))
	root, err := cacheRoot()
	if err != nil {
		env.Logf("no compile cache (%v): building in the work folder", err)
		return a.build(ctx, env, out, environ)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	dir, err := a.keyDir(ctx, root, environ)
	if err != nil {
		return nil, fmt.Errorf("compile cache: %w", err)
	}
	sum, size, linked, err := a.cachedBuild(ctx, env, dir, environ, out)
	if err != nil {
		return nil, err
	}
	if linked {
		env.Logf("built %s (%d bytes, sha256 %s), kept in %s", out, size, sum[:12], dir)
	} else {
		env.Logf("up to date in %s, not linked again: %s (%d bytes, sha256 %s)", dir, out, size, sum[:12])
	}
	return task.Outputs{"path": out, "sha256": sum, "size": size}, nil
}

// build runs go build into out, a file of the user's or of this run.
func (a *action) build(ctx context.Context, env *task.Env, out string, environ []string) (task.Outputs, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	if err := a.goBuild(ctx, env, out, environ); err != nil {
		return nil, err
	}
	sum, size, err := digest(out)
	if err != nil {
		return nil, err
	}
	env.Logf("built %s (%d bytes, sha256 %s)", out, size, sum[:12])
	return task.Outputs{"path": out, "sha256": sum, "size": size}, nil
}

func digest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
