//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// dlEntry is one entry of an archive the container's tar sends as is.
type dlEntry struct {
	name, link string
	typ        byte
	body       string
}

// dlShape is one download from the hostile pod: a tree made with sh in
// the pod and archived by its own tar (script), or an archive crafted here
// that a tar wrapper first in the pod's PATH sends instead (entries). want
// are what the error must say: the entry and why.
type dlShape struct {
	name    string
	script  string
	entries []dlEntry
	want    []string
}

var dlShapes = []dlShape{
	// Trees in the container's file system, archived by busybox tar.
	{name: "hardlink-to-symlink", script: "mkdir -p data/a && ln -s ../x data/a/l && ln data/a/l data/h",
		want: []string{`"data/h"`, "points outside the destination (to ../x)"}},
	{name: "chain", script: "mkdir -p data/b && ln -s b/c/../.. data/a && ln -s . data/b/c",
		want: []string{`"data/a"`, "points outside the destination (to ..)"}},
	{name: "chain-up", script: "mkdir data && ln -s . data/up && ln -s up/.. data/esc",
		want: []string{`"data/esc"`, "points outside the destination (to ..)"}},
	{name: "parent", script: "mkdir data && ln -s ../../.. data/up",
		want: []string{`"data/up"`, "points outside the destination (to ../../..)"}},
	{name: "deep", script: "mkdir -p data/d/e && ln -s ../../../x data/d/e/l",
		want: []string{`"data/d/e/l"`, "points outside the destination (to ../x)"}},
	{name: "sibling", script: "mkdir data && ln -s ../data-evil/f data/l",
		want: []string{`"data/l"`, "points outside the destination (to ../data-evil)"}},
	{name: "absolute", script: "mkdir data && ln -s /etc/passwd data/bad",
		want: []string{`"data/bad"`, `symlink to the absolute path "/etc/passwd"`}},
	{name: "fifo", script: "mkdir data && echo 1 > data/f && mkfifo data/p",
		want: []string{`"data/p"`, "named pipe"}},
	// Archives no file system holds, sent by the wrapper.
	{name: "dotdot", entries: []dlEntry{{name: "data/../../escaped", typ: tar.TypeReg, body: "pwned"}},
		want: []string{`"data/../../escaped"`, `climbs with ".."`}},
	{name: "absolute-name", entries: []dlEntry{{name: "/tmp/escaped", typ: tar.TypeReg, body: "pwned"}},
		want: []string{`"/tmp/escaped"`, "absolute path"}},
	{name: "sibling-prefix", entries: []dlEntry{{name: "data-evil/escaped", typ: tar.TypeReg, body: "pwned"}},
		want: []string{`"data-evil/escaped"`, `not under the requested "data"`}},
	{name: "write-through", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/link", link: "../../..", typ: tar.TypeSymlink}, {name: "data/link/escaped", typ: tar.TypeReg, body: "pwned"}},
		want: []string{`"data/link"`, "points outside the destination"}},
	{name: "through-inside-symlink", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/l", link: ".", typ: tar.TypeSymlink}, {name: "data/l/f", typ: tar.TypeReg, body: "x"}},
		want: []string{`"data/l/f"`, `goes through the symlink "data/l"`}},
	{name: "ordered-chain", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/a", link: "b/c/../..", typ: tar.TypeSymlink}, {name: "data/b/c", link: ".", typ: tar.TypeSymlink}},
		want: []string{`"data/b/c": changes what the symlink "data/a" -> "b/c/../.." resolves to`, "(to ..)"}},
	{name: "hardlink-inside-symlink", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/a/l", link: "../x", typ: tar.TypeSymlink}, {name: "data/h", link: "data/a/l", typ: tar.TypeLink}},
		want: []string{`"data/h"`, `hard link to the symlink "data/a/l" -> "../x"`}},
	{name: "hardlink-out", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/h", link: "/etc/passwd", typ: tar.TypeLink}},
		want: []string{`"data/h"`, "absolute path"}},
	{name: "dir-replaced", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/d/", typ: tar.TypeDir}, {name: "data/d", link: "..", typ: tar.TypeSymlink}},
		want: []string{`"data/d"`, "appears a second time"}},
	{name: "backslash", entries: []dlEntry{{name: `data\..\..\escaped`, typ: tar.TypeReg, body: "pwned"}},
		want: []string{`"data\\..\\..\\escaped"`, "backslash"}},
	{name: "device", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/tty", typ: tar.TypeChar}},
		want: []string{`"data/tty"`, "device file"}},
	{name: "good-then-escape", entries: []dlEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/keep", typ: tar.TypeReg, body: "overwritten"}, {name: "data/new/f", typ: tar.TypeReg, body: "new"}, {name: "data/z", link: "../x", typ: tar.TypeSymlink}},
		want: []string{`"data/z"`, "points outside the destination (to ../x)"}},
}

// dlArchive is a tar of entries.
func dlArchive(t *testing.T, entries []dlEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dlTree is every path under root with its mode, inode, content hash,
// modification time and link target.
func dlTree(t *testing.T, root string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v ino=%d", rel, fi.Mode(), fi.Sys().(*syscall.Stat_t).Ino)
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		} else if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %x %d", sha256.Sum256(b), fi.ModTime().UnixNano())
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// dlPod starts the hostile pod: the shapes' trees under /shapes/NAME/data,
// the crafted archives at /shapes/NAME/archive.tar, and /wrap/tar, first
// in PATH, which sends that archive for `tar -cf - -C /shapes/NAME data`
// and runs the real tar otherwise. It waits until the pod is Ready.
func dlPod(t *testing.T, ns string, shapes []dlShape) string {
	t.Helper()
	var bundle bytes.Buffer
	tw := tar.NewWriter(&bundle)
	script := []string{"set -e", "mkdir -p /shapes /wrap", `echo "$BUNDLE" | base64 -d | tar -x -C /`,
		`printf '#!/bin/sh\nif [ "$1" = -cf ] && [ -f "$4/archive.tar" ]; then exec cat "$4/archive.tar"; fi\nexec /bin/tar "$@"\n' > /wrap/tar`,
		"chmod +x /wrap/tar"}
	for _, s := range shapes {
		if s.entries == nil {
			script = append(script, fmt.Sprintf("mkdir -p /shapes/%s && cd /shapes/%s && %s && cd /", s.name, s.name, s.script))
			continue
		}
		a := dlArchive(t, s.entries)
		if err := tw.WriteHeader(&tar.Header{Name: "shapes/" + s.name + "/archive.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(a))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(a)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	script = append(script, "touch /ready", "trap 'exit 0' TERM; while true; do sleep 1; done")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hostile"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "main", Image: "kbrun.local/busybox:1.35", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", strings.Join(script, "\n")},
				Env: []corev1.EnvVar{{Name: "PATH", Value: "/wrap:/bin:/usr/bin:/sbin:/usr/sbin"},
					{Name: "BUNDLE", Value: base64.StdEncoding.EncodeToString(bundle.Bytes())}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/ready"}}}, PeriodSeconds: 1},
			}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("the hostile pod ended (%s): its script failed", p.Status.Phase)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("hostile pod not ready: %v", err)
	}
	return pod.Name
}

// TestDownloadHostileArchives downloads every escape shape from a real pod
// with `kbrun run` (one matrix cell each, retries allowed): each fails
// once, not retried, naming the entry and why, and the local destination
// (a folder holding a file already) and everything around it stay byte for
// byte as they were. A benign tree from the same pod (symlinks and a hard
// link inside) still downloads.
func TestDownloadHostileArchives(t *testing.T) {
	ns := "download-containment"
	relDeleteNamespace(t, ns)
	createNamespace(t, ns, nil)
	benign := dlShape{name: "benign", script: "mkdir -p data/sub && echo ok > data/sub/f && ln -s sub/f data/link && ln data/sub/f data/hard && ln -s ../data/sub data/back"}
	pod := dlPod(t, ns, append([]dlShape{benign}, dlShapes...))

	root := t.TempDir()
	var names []string
	for _, s := range dlShapes {
		names = append(names, s.name)
		for p, body := range map[string]string{"x": "beside", "data/keep": "mine"} {
			p = filepath.Join(root, s.name, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := dlTree(t, root)
	pipeline := fmt.Sprintf(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: hostile-downloads}
namespace: %s
vars:
  dest: ""
  benign: ""
tasks:
  - name: download
    matrix:
      shape: [%s]
    maxParallel: 4
    continueOnError: true
    retry: {attempts: 3, backoff: 100ms}
    copy:
      pod: %s
      download: [{from: "/shapes/{{ .matrix.shape }}/data", to: "{{ .vars.dest }}/{{ .matrix.shape }}/data"}]
  - name: benign
    copy:
      pod: %s
      download: [{from: /shapes/benign/data, to: "{{ .vars.benign }}/data"}]
`, ns, strings.Join(names, ", "), pod, pod)
	file := filepath.Join(t.TempDir(), "hostile.yaml")
	if err := os.WriteFile(file, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	benignDir := t.TempDir()
	r := relKbrun(t, relOpts{args: []string{"run", file, "-o", "json", "--set", "dest=" + root, "--set", "benign=" + benignDir}, timeout: 3 * time.Minute})
	for _, s := range dlShapes {
		e := r.ends["download["+s.name+"]"]
		relLogf(t, "%s: %s after %d attempt(s): %s", s.name, e.Status, e.Attempt, e.Error)
		if e.Status != "failed" {
			t.Errorf("%s: %s, want failed\n%s", s.name, e.Status, r.summary())
			continue
		}
		for _, w := range append([]string{"unsafe archive entry"}, s.want...) {
			if !strings.Contains(e.Error, w) {
				t.Errorf("%s: the error does not say %s: %s", s.name, w, e.Error)
			}
		}
		if e.Attempt != 1 {
			t.Errorf("%s: refused after %d attempts: a refused archive is final", s.name, e.Attempt)
		}
	}
	if after := dlTree(t, root); after != before {
		t.Errorf("the destinations changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if e := r.ends["benign"]; e.Status != "ok" {
		t.Fatalf("benign download: %s %s\n%s", e.Status, e.Error, r.summary())
	}
	for p, want := range map[string]string{"sub/f": "ok\n", "link": "ok\n", "hard": "ok\n", "back/f": "ok\n"} {
		if b, err := os.ReadFile(filepath.Join(benignDir, "data", p)); err != nil || string(b) != want {
			t.Errorf("benign %s: %q %v", p, b, err)
		}
	}
}
