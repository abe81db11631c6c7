// Package copy is the `copy` task type: local files and directories into a
// pod by streaming a tar archive (built in-process) into `tar -x` over exec,
// verified and retried when it arrives short; and files from a pod to local
// paths through `tar -c`, rejecting entries that would land outside the
// destination.
package copy

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the copy task type.
type Type struct {
	// Executor replaces the cluster executor (unit tests).
	Executor pod.RemoteExecutor
}

// Pair is one source and its destination.
type Pair struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Params are the copy task's parameters.
type Params struct {
	pod.Target
	ExactlyOne bool   `json:"exactlyOne,omitempty"`
	Files      []Pair `json:"files,omitempty"`
	Download   []Pair `json:"download,omitempty"`
	Verify     *bool  `json:"verify,omitempty"`
	Attempts   int    `json:"attempts,omitempty"`
}

func (Type) Name() string { return "copy" }
func (Type) Summary() string {
	return "Stream local files into a pod (tar over exec, verified and retried), or from a pod with path-traversal protection"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"files", "bytes", "attempts", "pod"} }

// Check implements task.Checker: local sources without template syntax must
// exist.
func (Type) Check(p task.Params) []task.FieldError {
	m, ok := p.Value.(map[string]any)
	if !ok {
		return nil
	}
	var errs []task.FieldError
	list, _ := m["files"].([]any)
	for i, v := range list {
		f, _ := v.(map[string]any)
		s, _ := f["from"].(string)
		if s == "" || tmpl.Has(s) {
			continue
		}
		if err := p.Local(s, "local path", false); err != nil {
			errs = append(errs, task.FieldError{Path: []string{"files", fmt.Sprint(i), "from"}, Message: err.Error()})
		}
	}
	return errs
}

// Prepare implements task.Type.
func (t Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if err := params.Target.Validate(); err != nil {
		return nil, err
	}
	if len(params.Files) == 0 && len(params.Download) == 0 {
		return nil, fmt.Errorf("give files (local to pod) or download (pod to local)")
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	a := &action{Params: params, executor: t.Executor, attempts: params.Attempts, verify: params.Verify == nil || *params.Verify}
	if a.attempts <= 0 {
		a.attempts = 3
	}
	var ps task.Problems
	for i, f := range params.Files {
		// A source from a var is checked as a literal one is, before
		// anything runs.
		ps.Check([]string{"files", fmt.Sprint(i), "from"}, f.From, func(s string) error { return p.Local(s, "local path", false) })
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	for i, f := range params.Files {
		if f.From == "" || !path.IsAbs(f.To) {
			return nil, task.Fieldf([]string{"files", fmt.Sprint(i), "to"}, "from must be a local path and to an absolute path in the container (got %q)", f.To)
		}
		to := f.To
		if strings.HasSuffix(to, "/") {
			to = path.Join(to, baseName(f.From))
		}
		to = path.Clean(to)
		if to == "/" {
			return nil, task.Fieldf([]string{"files", fmt.Sprint(i), "to"}, "to must not be the container's root directory")
		}
		a.up = append(a.up, upload{local: p.Path(f.From), remote: to, shown: f.From})
	}
	for i, f := range params.Download {
		if !path.IsAbs(f.From) || path.Clean(f.From) == "/" || f.To == "" {
			return nil, task.Fieldf([]string{"download", fmt.Sprint(i)}, "from must be an absolute path in the container (not /) and to a local path")
		}
		local := p.Path(f.To)
		if !task.IsUnknown(f.To) {
			// Found now, not after the pod's files have travelled.
			if err := task.WritableIn(filepath.Dir(local), true); err != nil {
				return nil, task.Fieldf([]string{"download", fmt.Sprint(i), "to"}, "%s cannot be written: %v", f.To, err)
			}
		}
		a.down = append(a.down, download{remote: path.Clean(f.From), local: local, shown: f.To})
	}
	return a, nil
}

type upload struct {
	local, remote, shown string
}

type download struct {
	remote, local, shown string
}

type action struct {
	Params
	executor pod.RemoteExecutor
	attempts int
	verify   bool
	up       []upload
	down     []download
}

// UsesNamespace is the pod's namespace.
func (a *action) UsesNamespace() string { return a.Target.Namespace }

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	var parts []string
	if len(a.up) > 0 {
		var ps []string
		for _, u := range a.up {
			ps = append(ps, u.shown+" to "+u.remote)
		}
		parts = append(parts, "copy "+task.JoinAnd(ps)+" into "+a.Target.String(ns))
	}
	if len(a.down) > 0 {
		var ps []string
		for _, d := range a.down {
			ps = append(ps, d.remote+" to "+d.shown)
		}
		s := "copy " + task.JoinAnd(ps) + " out of " + a.Target.String(ns)
		if len(parts) > 0 {
			s = "then " + s
		}
		parts = append(parts, s)
	}
	s := strings.Join(parts, ", ")
	if len(a.up) > 0 && a.verify {
		s += " (verified)"
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ns := k8s.Namespace(a.Namespace, env)
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	p, err := pod.ResolveWatched(ctx, c, ns, a.Target, pod.ResolveOptions{ExactlyOne: a.ExactlyOne})
	if err != nil {
		return nil, err
	}
	container, err := pod.Container(p, a.Container)
	if err != nil {
		return nil, err
	}
	ex := a.executor
	if ex == nil {
		// SPDY first: a copy is bulk stdin/stdout, which WebSocket makes
		// the kubelet translate (slower, see pod.SPDYFirst). SPDY's
		// weak spot, a wrong exit code when the command leaves stdin unread,
		// is closed by the scripts below draining stdin and by the
		// verification after the upload.
		ex = &pod.ClientExecutor{Clients: c, Protocol: pod.SPDYFirst}
	}
	r := &remote{ex: ex, ns: ns, pod: p.Name, container: container}
	out, err := a.run(ctx, env, r)
	if err != nil && !task.IsRetryable(err) && streamBroke(err) {
		// Every step of a copy can be repeated (unpacking overwrites,
		// the rest reads), so a broken stream is worth another attempt.
		err = task.Retryable(err)
	}
	return out, err
}

// streamBroke reports whether an exec failed without an exit status for
// another reason than missing rights, a missing pod or a missing program:
// its connection or stream broke (SPDY reports a dropped upgrade only as
// text, "error sending request: ... unexpected EOF").
func streamBroke(err error) bool {
	if err == nil || pod.ExitCode(err) >= 0 || pod.IsNotFoundInContainer(err) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var (
		missing *missingToolError
		local   *fs.PathError
		link    *os.LinkError
	)
	// Missing tools, refused archive entries and local file system
	// errors are final: repeating the stream changes nothing.
	if errors.As(err, &missing) || errors.Is(err, ErrUnsafeEntry) || errors.As(err, &local) || errors.As(err, &link) {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, final := range []string{"forbidden", "unauthorized", "not found"} {
		if strings.Contains(msg, final) {
			return false
		}
	}
	return true
}

// runRepeated runs a command that only reads (probe, verify), repeating it
// as an idempotent request when its stream broke.
func (r *remote) runRepeated(ctx context.Context, argv []string) (stdout, stderr string, err error) {
	_ = apicall.Idempotent(ctx, func() error {
		stdout, stderr, err = r.run(ctx, argv, nil)
		if streamBroke(err) {
			return task.Retryable(err)
		}
		return err
	})
	return stdout, stderr, err
}

func (a *action) run(ctx context.Context, env *task.Env, r *remote) (task.Outputs, error) {
	out := task.Outputs{"files": []any{}, "bytes": int64(0), "attempts": 0, "pod": r.pod}
	var files []any
	var total int64
	if len(a.up) > 0 {
		res, err := a.uploadAll(ctx, env, r)
		out["attempts"] = res.attempts
		if err != nil {
			return out, err
		}
		for _, f := range res.files {
			files = append(files, f)
		}
		total += res.bytes
	}
	if len(a.down) > 0 {
		if err := r.probe(ctx); err != nil {
			out["files"], out["bytes"] = task.List(files), total
			return out, err
		}
	}
	for _, d := range a.down {
		n, got, err := a.downloadOne(ctx, env, r, d)
		total += n
		for _, f := range got {
			files = append(files, f)
		}
		if err != nil {
			out["files"], out["bytes"] = task.List(files), total
			return out, err
		}
	}
	out["files"], out["bytes"] = task.List(files), total
	return out, nil
}

// remote is the container the copy works with.
type remote struct {
	ex                 pod.RemoteExecutor
	ns, pod, container string
}

func (r *remote) where() string {
	return fmt.Sprintf("container %s of pod %s/%s", r.container, r.ns, r.pod)
}

// run executes argv, returning stdout, stderr and the error.
func (r *remote) run(ctx context.Context, argv []string, stdin interface{ Read([]byte) (int, error) }) (string, string, error) {
	var stdout, stderr bytes.Buffer
	req := pod.ExecRequest{Namespace: r.ns, Pod: r.pod, Container: r.container, Command: argv, Stdout: &stdout, Stderr: &stderr}
	if stdin != nil {
		req.Stdin = stdin
	}
	err := r.ex.Execute(ctx, req)
	return stdout.String(), stderr.String(), err
}

// probeScript exits 3 when the container has no tar. Run before a download
// (tar -c), and to explain an upload whose sh could not be started.
const probeScript = `command -v tar >/dev/null 2>&1 || exit 3; exit 0`

// missingToolError is a container without tar or sh: final.
type missingToolError struct{ msg string }

func (e *missingToolError) Error() string { return e.msg }

func noTarError(r *remote) error {
	return &missingToolError{fmt.Sprintf("%s has no tar program: kbrun copies by streaming a tar archive through tar in the container; use an image that has tar (e.g. a busybox or -debug variant)", r.where())}
}

func (r *remote) probe(ctx context.Context) error {
	_, stderr, err := r.runRepeated(ctx, []string{"sh", "-c", probeScript})
	switch code := pod.ExitCode(err); {
	case err == nil:
		return nil
	case code == 3:
		return noTarError(r)
	case pod.IsNotFoundInContainer(err):
		// No shell: see whether tar itself is there.
		_, _, terr := r.run(ctx, []string{"tar", "--help"}, nil)
		if terr != nil && pod.IsNotFoundInContainer(terr) && pod.ExitCode(terr) < 0 {
			return &missingToolError{fmt.Sprintf("%s has neither sh nor tar: copying needs both (tar to unpack, sh to create directories); use an image that has them", r.where())}
		}
		return &missingToolError{fmt.Sprintf("%s has no sh: copying needs sh (to create directories) and tar", r.where())}
	default:
		if code >= 0 {
			return fmt.Errorf("checking for tar in %s: exit code %d: %s", r.where(), code, strings.TrimSpace(stderr))
		}
		return err
	}
}
