// Package docs holds the project's Markdown pages; its test checks that
// every page of the repository renders as written.
package docs

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// TestMarkdownRenders parses every Markdown file of the repository (what
// git tracks or would: not ignored) as GitHub does (CommonMark with tables)
// and checks that each heading and table the source means (a line read
// outside code fences, fences paired as written) is one in the rendering,
// not swallowed by a code block left open or closed with text after it;
// and that every relative link names a file that exists and, with
// #anchor, a heading of that file.
func TestMarkdownRenders(t *testing.T) {
	root := repoRoot(t)
	files := tracked(t, root, "*.md")
	pages := map[string]*page{}
	for _, f := range files {
		p, err := parse(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		pages[f] = p
	}
	for _, f := range files {
		p, ok := pages[f]
		if !ok {
			continue
		}
		for _, l := range p.meant.headings {
			if !p.headings[l] {
				t.Errorf("%s:%d: %q is not a heading when rendered (is a code fence above it left open, or closed with text after it?)", f, l, p.lines[l-1])
			}
		}
		for _, l := range p.meant.tables {
			if !p.tables[l] {
				t.Errorf("%s:%d: the table is not a table when rendered (is a code fence above it left open, or closed with text after it?)", f, l)
			}
		}
		if p.meant.open > 0 {
			t.Errorf("%s:%d: code fence never closed", f, p.meant.open)
		}
		for _, ln := range p.links {
			target, frag, local := relative(ln.dest)
			if !local {
				continue
			}
			path := f
			if target != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(f), target))
			}
			info, err := os.Stat(filepath.Join(root, path))
			if err != nil {
				t.Errorf("%s:%d: link %q: %s does not exist", f, ln.line, ln.dest, path)
				continue
			}
			if frag == "" || info.IsDir() || !strings.HasSuffix(path, ".md") {
				continue
			}
			to, ok := pages[path]
			if !ok {
				t.Errorf("%s:%d: link %q: %s is ignored by git", f, ln.line, ln.dest, path)
				continue
			}
			if !to.anchors[frag] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", f, ln.line, ln.dest, path, frag)
			}
		}
	}
}

type link struct {
	dest string
	line int
}

type page struct {
	lines    []string
	meant    meant
	headings map[int]bool // by line: what goldmark renders as a heading
	tables   map[int]bool // by line of the header row
	anchors  map[string]bool
	links    []link
}

// meant is what the source means, read line by line: headings and table
// header rows outside fences, and the line of a fence left open.
type meant struct {
	headings, tables []int
	open             int
}

var (
	fenceRE   = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	headingRE = regexp.MustCompile(`^ {0,3}#{1,6}(\s|$)`)
	delimRE   = regexp.MustCompile(`^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$`)
)

func readMeant(lines []string) meant {
	var m meant
	var fence string
	for i, l := range lines {
		if f := fenceRE.FindStringSubmatch(l); f != nil {
			switch {
			case fence == "":
				fence, m.open = f[1], i+1
			case f[1][0] == fence[0] && len(f[1]) >= len(fence):
				fence, m.open = "", 0
			}
			continue
		}
		if fence != "" {
			continue
		}
		if headingRE.MatchString(l) {
			m.headings = append(m.headings, i+1)
		}
		if i > 0 && delimRE.MatchString(l) && strings.Contains(lines[i-1], "|") {
			m.tables = append(m.tables, i)
		}
	}
	return m
}

func parse(path string) (*page, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(src), "\n")
	p := &page{lines: lines, meant: readMeant(lines), headings: map[int]bool{}, tables: map[int]bool{}, anchors: map[string]bool{}}
	md := goldmark.New(goldmark.WithExtensions(extension.Table))
	doc := md.Parser().Parse(text.NewReader(src))
	lineOf := func(offset int) int { return bytes.Count(src[:offset], []byte("\n")) + 1 }
	// firstLine is the line a block starts on: its first text segment's.
	var firstLine func(n ast.Node) int
	firstLine = func(n ast.Node) int {
		if n.Type() == ast.TypeBlock && n.Lines().Len() > 0 {
			return lineOf(n.Lines().At(0).Start)
		}
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if l := firstLine(c); l > 0 {
				return l
			}
		}
		if t, ok := n.(*ast.Text); ok {
			return lineOf(t.Segment.Start)
		}
		return 0
	}
	seen := map[string]int{}
	err = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			if l := firstLine(n); l > 0 {
				p.headings[l] = true
			}
			slug := anchor(plain(n, src))
			if k := seen[slug]; k > 0 {
				p.anchors[fmt.Sprintf("%s-%d", slug, k)] = true
			} else {
				p.anchors[slug] = true
			}
			seen[slug]++
		case *east.Table:
			if l := firstLine(n); l > 0 {
				p.tables[l] = true
			}
		case *ast.Link:
			p.links = append(p.links, link{string(n.Destination), firstLine(n)})
		case *ast.Image:
			p.links = append(p.links, link{string(n.Destination), firstLine(n)})
		}
		return ast.WalkContinue, nil
	})
	return p, err
}

// plain is a heading's text as GitHub slugs it: the text of its inline
// nodes, code spans included.
func plain(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		if s, ok := c.(*ast.String); ok && entering {
			b.Write(s.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// anchor is GitHub's id for a heading: lower case, punctuation dropped but
// - and _, spaces made -.
func anchor(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// relative splits a link into its file and #fragment; local is false for
// links that leave the repository (a scheme, or //host).
func relative(dest string) (file, frag string, local bool) {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(dest, "/") {
		return "", "", false
	}
	return u.Path, u.Fragment, true
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v (the check reads the files git tracks)", err)
	}
	return strings.TrimSpace(string(out))
}

func tracked(t *testing.T, root, pattern string) []string {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", pattern).Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("git lists no %s files", pattern)
	}
	return files
}
