package copy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

// fakeContainer is a stub of the remote-exec seam: a container whose file
// system is a temp folder, with tar/sha256sum behaviour in Go.
type fakeContainer struct {
	t           *testing.T
	root        string
	noTar       bool
	noSha       bool
	noShell     bool
	emptyOnce   int    // this many first extractions see empty stdin (the race)
	dropVerify  int    // this many first verify execs lose their connection
	dropExtract int    // this many first extractions lose their connection
	shortOnce   int    // this many first extractions are cut short but exit 0
	evil        []byte // tar -c returns this archive instead

	mu    sync.Mutex
	calls [][]string
}

func (f *fakeContainer) Execute(ctx context.Context, r pod.ExecRequest) error {
	f.mu.Lock()
	f.calls = append(f.calls, r.Command)
	f.mu.Unlock()
	argv := r.Command
	switch {
	case argv[0] == "sh" && argv[2] == probeScript:
		if f.noShell {
			return errors.New(`exec: "sh": executable file not found in $PATH`)
		}
		if f.noTar {
			return &pod.ExitError{Code: 3}
		}
		return nil
	case argv[0] == "tar" && argv[1] == "--help":
		if f.noTar {
			return errors.New(`exec: "tar": executable file not found in $PATH`)
		}
		return nil
	case argv[0] == "sh" && argv[2] == extractScript && f.dropExtract > 0:
		f.dropExtract--
		io.CopyN(io.Discard, r.Stdin, 512)
		return errors.New(`error sending request: Post "https://apiserver/api/v1/namespaces/ones/pods/builder/exec": unexpected EOF`)
	case argv[0] == "sh" && argv[2] == verifyScript && f.dropVerify > 0:
		f.dropVerify--
		return errors.New(`error sending request: Post "https://apiserver/api/v1/namespaces/ones/pods/builder/exec": unexpected EOF`)
	case argv[0] == "sh" && argv[2] == extractScript:
		if f.noShell {
			return errors.New(`exec: "sh": executable file not found in $PATH`)
		}
		if f.noTar {
			io.Copy(io.Discard, r.Stdin) // the script drains stdin
			return &pod.ExitError{Code: 3}
		}
		for _, d := range argv[4:] {
			if err := os.MkdirAll(filepath.Join(f.root, d), 0o755); err != nil {
				return err
			}
		}
		if f.emptyOnce > 0 {
			f.emptyOnce--
			fmt.Fprintln(r.Stderr, "tar: short read")
			return &pod.ExitError{Code: 1}
		}
		short := false
		if f.shortOnce > 0 {
			f.shortOnce--
			short = true
		}
		return f.extract(r.Stdin, short)
	case argv[0] == "sh" && argv[2] == verifyScript && f.noSha:
		fmt.Fprintln(r.Stdout, "size")
		for _, p := range argv[4:] {
			st, err := os.Stat(filepath.Join(f.root, p))
			if err == nil {
				fmt.Fprintf(r.Stdout, "%d  %s\n", st.Size(), p)
			}
		}
		return nil
	case argv[0] == "sh" && argv[2] == verifyScript:
		fmt.Fprintln(r.Stdout, "sha256")
		for _, p := range argv[4:] {
			data, err := os.ReadFile(filepath.Join(f.root, p))
			if err != nil {
				fmt.Fprintf(r.Stderr, "sha256sum: %s: No such file or directory\n", p)
				continue
			}
			sum := sha256.Sum256(data)
			fmt.Fprintf(r.Stdout, "%s  %s\n", hex.EncodeToString(sum[:]), p)
		}
		return nil
	case argv[0] == "tar" && argv[1] == "-cf":
		if f.evil != nil {
			_, err := r.Stdout.Write(f.evil)
			return err
		}
		return writeTarOf(r.Stdout, filepath.Join(f.root, argv[4]), argv[5])
	}
	f.t.Fatalf("unexpected command %q", argv)
	return nil
}

func (f *fakeContainer) extract(stdin io.Reader, short bool) error {
	tr := tar.NewReader(stdin)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &pod.ExitError{Code: 1}
		}
		p := filepath.Join(f.root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, os.FileMode(h.Mode))
		case tar.TypeSymlink:
			os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			out, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode))
			if err != nil {
				return err
			}
			if short {
				io.CopyN(out, tr, h.Size/2)
				io.Copy(io.Discard, tr)
			} else {
				io.Copy(out, tr)
			}
			out.Close()
			os.Chmod(p, os.FileMode(h.Mode))
		}
	}
}

func writeTarOf(w io.Writer, dir, name string) error {
	tw := tar.NewWriter(w)
	base := filepath.Join(dir, name)
	_ = base
	err := walkNoFollow(base, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, _ := tar.FileInfoHeader(info, link)
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, _ := os.Open(p)
			defer f.Close()
			_, err = io.Copy(tw, f)
		}
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func newAction(t *testing.T, dir string, params map[string]any) *action {
	t.Helper()
	params["pod"] = "builder"
	a, err := Type{}.Prepare(task.Params{Value: params, Dir: dir, Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*action)
}

func env() *task.Env {
	return &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {}}
}

func localTree(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.MkdirAll(filepath.Join(dir, "server"), 0o755)
	os.WriteFile(filepath.Join(dir, "server", "main"), bytes.Repeat([]byte("x"), 100000), 0o700)
	os.WriteFile(filepath.Join(dir, "server", "data.txt"), []byte("data"), 0o644)
	return dir
}

func TestUploadKeepsModesAndCreatesParents(t *testing.T) {
	dir := localTree(t)
	fc := &fakeContainer{t: t, root: t.TempDir()}
	a := newAction(t, dir, map[string]any{"files": []any{
		map[string]any{"from": "prog", "to": "/workspace/deep/prog"},
		map[string]any{"from": "server", "to": "/workspace/"},
	}})
	out, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(fc.root, "workspace/deep/prog"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("prog: %v %v", st, err)
	}
	st, err = os.Stat(filepath.Join(fc.root, "workspace/server/main"))
	if err != nil || st.Mode().Perm() != 0o700 || st.Size() != 100000 {
		t.Fatalf("server/main: %v %v", st, err)
	}
	if out["bytes"].(int64) != int64(len("#!/bin/sh\necho hi\n")+100000+4) {
		t.Fatalf("bytes = %v", out["bytes"])
	}
	if out["attempts"] != 1 {
		t.Fatalf("attempts = %v", out["attempts"])
	}
	if got := fmt.Sprint(out["files"]); got != "[/workspace/deep/prog /workspace/server]" {
		t.Fatalf("files = %s", got)
	}
	// -o: owners are never restored; parents made with mkdir -p.
	var extract []string
	for _, c := range fc.calls {
		if c[0] == "sh" && c[2] == extractScript {
			extract = c
		}
	}
	if !strings.Contains(extract[2], "tar -xof - -C /;") || fmt.Sprint(extract[4:]) != "[/workspace /workspace/deep]" {
		t.Fatalf("extract command %q", extract)
	}
	// Two execs in all: unpack (with the tar check), then verify.
	if len(fc.calls) != 2 {
		t.Fatalf("%d execs, want 2: %q", len(fc.calls), fc.calls)
	}
}

func TestUploadRetriesWhenStdinArrivesEmpty(t *testing.T) {
	dir := localTree(t)
	for _, tc := range []struct {
		name        string
		fc          *fakeContainer
		wantAttempt int
	}{
		{"empty stdin, sha256", &fakeContainer{emptyOnce: 1}, 2},
		{"cut short, sha256", &fakeContainer{shortOnce: 1}, 2},
		{"cut short, sizes only", &fakeContainer{shortOnce: 2, noSha: true}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fc.t, tc.fc.root = t, t.TempDir()
			var logs []string
			e := env()
			e.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
			a := newAction(t, dir, map[string]any{"files": []any{map[string]any{"from": "server/main", "to": "/w/main"}}})
			out, err := a.run(context.Background(), e, &remote{ex: tc.fc, ns: "ones", pod: "builder", container: "c"})
			if err != nil {
				t.Fatal(err)
			}
			if out["attempts"] != tc.wantAttempt {
				t.Fatalf("attempts = %v, logs %q", out["attempts"], logs)
			}
			data, _ := os.ReadFile(filepath.Join(tc.fc.root, "w/main"))
			if len(data) != 100000 {
				t.Fatalf("arrived %d bytes", len(data))
			}
			if !strings.Contains(strings.Join(logs, "\n"), "arrived incomplete") {
				t.Fatalf("logs %q", logs)
			}
		})
	}
}

func TestUploadGivesUpAfterAttempts(t *testing.T) {
	dir := localTree(t)
	fc := &fakeContainer{t: t, root: t.TempDir(), emptyOnce: 5}
	a := newAction(t, dir, map[string]any{"attempts": 2, "files": []any{map[string]any{"from": "prog", "to": "/w/prog"}}})
	_, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if err == nil || !task.IsRetryable(err) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingTarFailsClearly(t *testing.T) {
	dir := localTree(t)
	for _, fc := range []*fakeContainer{{noTar: true}, {noTar: true, noShell: true}} {
		fc.t, fc.root = t, t.TempDir()
		a := newAction(t, dir, map[string]any{"files": []any{map[string]any{"from": "prog", "to": "/w/prog"}}})
		_, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
		if err == nil || !strings.Contains(err.Error(), "tar") || task.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
		// No tar: the extract exec says so (exit 3) and nothing follows;
		// no sh: the probe (sh, then tar --help) explains which is missing.
		if len(fc.calls) > 3 {
			t.Fatalf("went on after finding tar missing: %q", fc.calls)
		}
	}
}

func TestDownloadRoundTrip(t *testing.T) {
	fc := &fakeContainer{t: t, root: t.TempDir()}
	os.MkdirAll(filepath.Join(fc.root, "var/out/sub"), 0o755)
	os.WriteFile(filepath.Join(fc.root, "var/out/sub/a"), []byte("hello"), 0o750)
	os.Symlink("sub/a", filepath.Join(fc.root, "var/out/link"))
	dest := t.TempDir()
	a := newAction(t, dest, map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": "got"}}})
	out, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, "got/sub/a"))
	if err != nil || string(data) != "hello" {
		t.Fatalf("%q %v", data, err)
	}
	if st, _ := os.Stat(filepath.Join(dest, "got/sub/a")); st.Mode().Perm() != 0o750 {
		t.Fatalf("mode %v", st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dest, "got/link")); l != "sub/a" {
		t.Fatalf("link %q", l)
	}
	if out["bytes"].(int64) != 5 {
		t.Fatalf("bytes %v", out["bytes"])
	}
}

type tarEntry struct {
	name, link string
	typ        byte
	body       string
}

func mkTar(t *testing.T, entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestDownloadRejectsEvilTar(t *testing.T) {
	fc := &fakeContainer{t: t, root: t.TempDir(), evil: mkTar(t, tarEntry{name: "out/../../../evil", typ: tar.TypeReg, body: "x"})}
	dest := t.TempDir()
	a := newAction(t, dest, map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": "got"}}})
	_, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("err = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"build/kaniko-rootless-demo", "server/main"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	a := newAction(t, dir, map[string]any{"files": []any{
		map[string]any{"from": "build/kaniko-rootless-demo", "to": "/workspace/kaniko-rootless-demo"},
		map[string]any{"from": "server/main", "to": "/workspace/server/"},
	}, "namespace": "ones"})
	want := "copy build/kaniko-rootless-demo to /workspace/kaniko-rootless-demo and server/main to /workspace/server/main into ones/builder (verified)"
	if got := a.Describe(); got != want {
		t.Fatalf("Describe() =\n%s\nwant\n%s", got, want)
	}
}

func TestPrepareRejects(t *testing.T) {
	for _, p := range []map[string]any{
		{"pod": "x", "files": []any{map[string]any{"from": "a", "to": "relative"}}},
		{"pod": "x", "selector": "a=b", "files": []any{map[string]any{"from": "a", "to": "/x"}}},
		{"pod": "x"},
		{"pod": "x", "files": []any{map[string]any{"from": "missing", "to": "/x"}}},
		{"pod": "x", "download": []any{map[string]any{"from": "/", "to": "x"}}},
	} {
		// "a" exists: each is refused for its own fault.
		if _, err := (Type{}).Prepare(task.Params{Value: p, Dir: "testdata/prepare", Rendered: true}); err == nil {
			t.Errorf("Prepare(%v) accepted", p)
		}
	}
	_ = path.Join
}

func walkNoFollow(root string, fn filepath.WalkFunc) error {
	return filepath.Walk(root, fn) // Walk uses Lstat: symlinks are not followed
}

// A dropped exec connection (SPDY reports it only as text) is repeated:
// verify and probe as requests, the upload by sending again; a copy that
// still fails on a broken stream is retryable for the engine. Missing tools
// and rights are not.
func TestBrokenStreamsAreRepeated(t *testing.T) {
	dir := localTree(t)
	up := map[string]any{"files": []any{map[string]any{"from": "prog", "to": "/w/prog"}}}
	for _, tc := range []struct {
		name         string
		fc           *fakeContainer
		wantErr      bool
		wantAttempts int
	}{
		{"verify dropped twice", &fakeContainer{dropVerify: 2}, false, 1},
		{"upload dropped once", &fakeContainer{dropExtract: 1}, false, 2},
		{"upload dropped every time", &fakeContainer{dropExtract: 9}, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fc.t, tc.fc.root = t, t.TempDir()
			a := newAction(t, dir, up)
			out, err := a.run(context.Background(), env(), &remote{ex: tc.fc, ns: "ones", pod: "builder", container: "c"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !task.IsRetryable(err) {
				t.Errorf("a copy failing on broken streams is not retryable: %v", err)
			}
			if out["attempts"] != tc.wantAttempts {
				t.Errorf("attempts = %v, want %d", out["attempts"], tc.wantAttempts)
			}
		})
	}
	for _, err := range []error{
		errors.New(`unable to upgrade connection: pods "builder" is forbidden: User "u" cannot create resource "pods/exec"`),
		errors.New(`pods "builder" not found`),
		&missingToolError{"container c has no tar program"},
		&pod.ExitError{Code: 2},
		context.DeadlineExceeded,
	} {
		if streamBroke(err) {
			t.Errorf("streamBroke(%v) = true, want false", err)
		}
	}
}
