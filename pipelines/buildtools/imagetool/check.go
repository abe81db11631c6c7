package main

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// expectation is one line of an expectations file: a path of the image's
// file system (or "config") and what must hold for it.
//
//	/hello.txt type=file mode=0644 owner=0:0 content="hello"
//	/data      type=dir  mode=0700 owner=1000:1000
//	/bin/ping  cap=cap_net_raw=ep
//	/etc/shadow type=absent
//	config     user=1000 workdir=/app entrypoint=["/server"]
type expectation struct {
	path string
	want map[string]string
	line int
}

var pathKeys = map[string]bool{"type": true, "mode": true, "owner": true, "content": true, "contains": true, "cap": true, "link": true}
var configKeys = map[string]bool{"user": true, "workdir": true, "entrypoint": true, "cmd": true, "env": true}

// splitWords splits on spaces outside double quotes, keeping the quotes.
func splitWords(s string) []string {
	var out []string
	start, inQuote := -1, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func parseExpectations(text string) ([]expectation, error) {
	var out []expectation
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := splitWords(line)
		e := expectation{path: words[0], want: map[string]string{}, line: n}
		keys := pathKeys
		if e.path == "config" {
			keys = configKeys
		} else if !path.IsAbs(e.path) {
			return nil, fmt.Errorf("line %d: %q is neither an absolute path nor config", n, e.path)
		}
		for _, w := range words[1:] {
			k, v, ok := strings.Cut(w, "=")
			if !ok || !keys[k] {
				return nil, fmt.Errorf("line %d: %q: want KEY=VALUE with KEY one of %s", n, w, strings.Join(sortedKeys(keys), ", "))
			}
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					return nil, fmt.Errorf("line %d: %s: %v", n, w, err)
				}
				v = u
			}
			e.want[k] = v
		}
		if len(e.want) == 0 {
			return nil, fmt.Errorf("line %d: %s: nothing to check", n, e.path)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// found is what the image holds at a path.
type found struct {
	hdr     *tar.Header
	content []byte
}

// checkImage checks img against the expectations; it returns one line per
// expectation ("ok ..." or "WRONG ...") and how many were wrong.
func checkImage(img v1.Image, exps []expectation) ([]string, int, error) {
	want := map[string]bool{}
	for _, e := range exps {
		want[path.Clean(e.path)] = true
	}
	files := map[string]found{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("reading the image's layers: %w", err)
		}
		p := path.Clean("/" + h.Name)
		if !want[p] {
			continue
		}
		f := found{hdr: h}
		if h.Typeflag == tar.TypeReg {
			if f.content, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return nil, 0, err
			}
		}
		files[p] = f
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, 0, err
	}
	var lines []string
	bad := 0
	for _, e := range exps {
		var problems, seen []string
		if e.path == "config" {
			problems, seen = checkConfig(cf.Config, e.want)
		} else {
			problems, seen = checkFile(files, path.Clean(e.path), e.want)
		}
		if len(problems) > 0 {
			bad++
			lines = append(lines, fmt.Sprintf("WRONG %s: %s", e.path, strings.Join(problems, "; ")))
		} else {
			lines = append(lines, fmt.Sprintf("ok    %s: %s", e.path, strings.Join(seen, " ")))
		}
	}
	return lines, bad, nil
}

func checkFile(files map[string]found, p string, want map[string]string) (problems, seen []string) {
	f, ok := files[p]
	if want["type"] == "absent" {
		if ok {
			return []string{"present, want absent"}, nil
		}
		return nil, []string{"absent"}
	}
	if !ok {
		return []string{"missing"}, nil
	}
	h := f.hdr
	got := map[string]string{
		"type":  typeName(h.Typeflag),
		"mode":  fmt.Sprintf("%04o", h.Mode&0o7777),
		"owner": fmt.Sprintf("%d:%d", h.Uid, h.Gid),
		"link":  h.Linkname,
		"cap":   "none",
	}
	if v, ok := h.PAXRecords[xattrCaps]; ok {
		t, err := capText([]byte(v))
		if err != nil {
			t = err.Error()
		}
		got["cap"] = t
	}
	for _, k := range []string{"type", "mode", "owner", "link", "cap", "content", "contains"} {
		w, ok := want[k]
		if !ok {
			continue
		}
		switch k {
		case "content":
			c := strings.TrimSuffix(string(f.content), "\n")
			if c != w {
				problems = append(problems, fmt.Sprintf("content %q, want %q", clip(c), w))
			} else {
				seen = append(seen, fmt.Sprintf("content %q", clip(c)))
			}
		case "contains":
			if !strings.Contains(string(f.content), w) {
				problems = append(problems, fmt.Sprintf("content %q does not contain %q", clip(string(f.content)), w))
			} else {
				seen = append(seen, fmt.Sprintf("contains %q", w))
			}
		case "mode":
			m, err := strconv.ParseInt(w, 8, 32)
			if err != nil || fmt.Sprintf("%04o", m) != got["mode"] {
				problems = append(problems, fmt.Sprintf("mode %s, want %s", got["mode"], w))
			} else {
				seen = append(seen, "mode "+got["mode"])
			}
		default:
			if got[k] != w {
				problems = append(problems, fmt.Sprintf("%s %s, want %s", k, got[k], w))
			} else {
				seen = append(seen, k+" "+got[k])
			}
		}
	}
	return problems, seen
}

func checkConfig(c v1.Config, want map[string]string) (problems, seen []string) {
	js := func(v []string) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	got := map[string]string{"user": c.User, "workdir": c.WorkingDir, "entrypoint": js(c.Entrypoint), "cmd": js(c.Cmd)}
	for _, k := range sortedKeys(want) {
		w := want[k]
		if k == "env" {
			if indexOf(c.Env, w) < 0 {
				problems = append(problems, fmt.Sprintf("env has no %s", w))
			} else {
				seen = append(seen, "env "+w)
			}
			continue
		}
		if got[k] != w {
			problems = append(problems, fmt.Sprintf("%s %s, want %s", k, got[k], w))
		} else {
			seen = append(seen, k+" "+got[k])
		}
	}
	return problems, seen
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	}
	return fmt.Sprintf("type %q", t)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
