package pod

import (
	"io"
	"strings"
	"sync"
)

// Capture keeps the first max bytes written to it and passes everything on
// to an optional live writer.
type Capture struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	cut  int64 // bytes written past max
	live io.Writer
}

// NewCapture returns a capture of at most max bytes that tees to live.
func NewCapture(max int, live io.Writer) *Capture { return &Capture{max: max, live: live} }

// Write implements io.Writer; it never fails because of the live writer.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	n := min(len(p), max(c.max-len(c.buf), 0))
	c.buf = append(c.buf, p[:n]...)
	c.cut += int64(len(p) - n)
	c.mu.Unlock()
	if c.live != nil {
		_, _ = c.live.Write(p)
	}
	return len(p), nil
}

// String returns what was kept.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// Cut is how many bytes written were not kept.
func (c *Capture) Cut() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// TailLines returns the last n lines of s (without a trailing newline).
func TailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Tail keeps the last max bytes written to it (safe for concurrent use).
type Tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// NewTail returns a tail of max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write implements io.Writer.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept bytes.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
