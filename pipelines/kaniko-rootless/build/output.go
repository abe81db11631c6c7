package main

import (
	"io"
	"regexp"
	"strings"
	"sync"
)

// quiet writes to w and ignores its errors: Kaniko must go on (and not
// block on a full pipe) when the exec stream showing its output is gone.
type quiet struct{ w io.Writer }

func (q quiet) Write(p []byte) (int, error) {
	_, _ = q.w.Write(p)
	return len(p), nil
}

// errorLines keeps the lines of Kaniko's output that report errors, the
// last ones last, so a failure can quote Kaniko instead of a bare exit code.
type errorLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

var errorLineRE = regexp.MustCompile(`(?i)^(error|erro\[|fata\[)|level=(error|fatal)`)

func (e *errorLines) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partial = append(e.partial, p...)
	for {
		i := strings.IndexByte(string(e.partial), '\n')
		if i < 0 {
			break
		}
		e.add(string(e.partial[:i]))
		e.partial = e.partial[i+1:]
	}
	return len(p), nil
}

func (e *errorLines) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.partial) > 0 {
		e.add(string(e.partial))
		e.partial = nil
	}
}

func (e *errorLines) add(line string) {
	line = strings.TrimSpace(stripANSI(line))
	if errorLineRE.MatchString(line) {
		e.lines = append(e.lines, line)
		if len(e.lines) > 5 {
			e.lines = e.lines[1:]
		}
	}
}

func (e *errorLines) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The last line is Kaniko's fatal error; earlier ones give context.
	seen := map[string]bool{}
	var out []string
	for i := len(e.lines) - 1; i >= 0 && len(out) < 3; i-- {
		if !seen[e.lines[i]] {
			seen[e.lines[i]] = true
			out = append([]string{e.lines[i]}, out...)
		}
	}
	return strings.Join(out, " | ")
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }
