package diagnose

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// folder writes the diagnostics folder: every file masked, the whole kept
// under a total size, and what could not be collected or written noted
// for the summary instead of failing anything.
type folder struct {
	dir  string
	mask func(string) string

	mu    sync.Mutex
	left  int64
	notes []string
}

func newFolder(dir string, total int64, mask func(string) string) (*folder, error) {
	if mask == nil {
		mask = func(s string) string { return s }
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &folder{dir: dir, mask: mask, left: total}, nil
}

// write writes text, masked, to name (a path inside the folder), cut to
// what is left of the total size.
func (f *folder) write(name, text string) {
	text = f.mask(text)
	f.mu.Lock()
	left := f.left
	f.left -= min(int64(len(text)), left)
	f.mu.Unlock()
	switch {
	case left <= 0:
		f.note("%s not written: the folder reached its size bound", name)
		return
	case int64(len(text)) > left:
		text = text[:left] + "\n[cut: the folder reached its size bound]\n"
		f.note("%s cut: the folder reached its size bound", name)
	}
	f.save(name, text)
}

// save writes a file whatever the bound (the summary: it says what the
// bound left out).
func (f *folder) save(name, text string) {
	path := filepath.Join(f.dir, name)
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(text), 0o644)
	}
	if err != nil {
		f.note("%s: %v", name, err)
		return
	}
}

// note records a problem of the collection, for the summary.
func (f *folder) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, f.mask(fmt.Sprintf(format, args...)))
}

// fileName makes s usable as one file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, s)
}
