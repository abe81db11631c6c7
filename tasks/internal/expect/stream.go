package expect

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Judge follows one run of a command: Stdout and Stderr take its output as
// it arrives, and every expectation is judged over all of it, in memory
// bounded by the expectations, not by the output (a build log of gigabytes
// is judged as a line is). Finish gives the verdict.
type Judge struct {
	streams  []*streamJudge
	out, err io.Writer
	finished bool
	captures map[string]any
	unmet    []string
}

// Start returns a Judge for one run of the command. Its Finish must be
// called: it ends the goroutines that match patterns.
func (c *Checker) Start() *Judge {
	j := &Judge{out: io.Discard, err: io.Discard}
	for i := range c.streams {
		s := newStreamJudge(&c.streams[i])
		j.streams = append(j.streams, s)
		if s.name == "stdout" {
			j.out = s
		} else {
			j.err = s
		}
	}
	return j
}

// Stdout takes the command's standard output.
func (j *Judge) Stdout() io.Writer { return j.out }

// Stderr takes the command's standard error.
func (j *Judge) Stderr() io.Writer { return j.err }

// Finish ends the streams (what was written is the whole output; the
// newlines it ends with are not part of it) and returns the named groups'
// values and every unmet expectation. Later calls return the same; output
// written after the first is not judged.
func (j *Judge) Finish() (map[string]any, []string) {
	if j.finished {
		return j.captures, j.unmet
	}
	j.finished = true
	j.captures = map[string]any{}
	for _, s := range j.streams {
		j.unmet = append(j.unmet, s.finish(j.captures)...)
	}
	return j.captures, j.unmet
}

// streamJudge judges one output stream. Writes may come from another
// goroutine than Finish, hence the lock.
type streamJudge struct {
	mu   sync.Mutex
	name string
	n    int64 // bytes judged so far
	// held counts the newlines the output ends with so far: they are fed
	// on only once more output follows, since the output's last newlines
	// are not part of it (as `equals` and `$` expect).
	held   int64
	lits   *literals
	eq     *equality
	res    []*reJudge
	closed bool
}

// newlines is what held newlines are fed from.
var newlines = bytes.Repeat([]byte{'\n'}, 4096)

func newStreamJudge(s *stream) *streamJudge {
	j := &streamJudge{name: s.name, lits: newLiterals(s.t.Contains, s.t.Absent)}
	if s.t.Equals != nil {
		j.eq = &equality{want: *s.t.Equals, diff: -1}
	}
	for _, re := range s.res {
		j.res = append(j.res, startRE(re))
	}
	return j
}

// Write implements io.Writer; it never fails.
func (s *streamJudge) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return len(p), nil
	}
	body := bytes.TrimRight(p, "\n")
	if len(body) == 0 {
		s.held += int64(len(p))
		return len(p), nil
	}
	for s.held > 0 {
		k := min(s.held, int64(len(newlines)))
		s.feed(newlines[:k])
		s.held -= k
	}
	s.feed(body)
	s.held = int64(len(p) - len(body))
	return len(p), nil
}

func (s *streamJudge) feed(b []byte) {
	s.n += int64(len(b))
	s.lits.feed(b)
	if s.eq != nil {
		s.eq.feed(b)
	}
	for _, r := range s.res {
		r.feed(b)
	}
}

// finish ends the stream and lists its unmet expectations, in the order
// equals, contains, absent, matches; captures gets the named groups.
func (s *streamJudge) finish(captures map[string]any) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var unmet []string
	if s.eq != nil {
		if why := s.eq.unmet(s.name); why != "" {
			unmet = append(unmet, why)
		}
	}
	for _, nd := range s.lits.needles {
		switch {
		case !nd.absent && nd.at < 0:
			unmet = append(unmet, fmt.Sprintf("%s does not contain %s (%d bytes read)", s.name, strconv.Quote(nd.s), s.n))
		case nd.absent && nd.at >= 0:
			unmet = append(unmet, fmt.Sprintf("%s contains %s, which must be absent (line %d, byte %d: %s)", s.name, strconv.Quote(nd.s), nd.line, nd.at, nd.excerpt))
		}
	}
	for _, r := range s.res {
		if why := r.finish(captures); why != "" {
			unmet = append(unmet, s.name+" "+why)
		}
	}
	return unmet
}

// literals finds the contains and absent strings in a stream. It keeps the
// last len(longest)-1 bytes of what it was fed, so that a string split
// across two writes is found too: the memory is the needles', whatever the
// length of the output.
type literals struct {
	needles []*needle
	left    int    // needles not found yet
	keep    int    // len(longest needle) - 1
	carry   []byte // the last keep bytes before the next write
	join    []byte // carry and the first keep bytes of a write
	off     int64  // stream offset of the next write
	lines   int64  // newlines before off
}

type needle struct {
	s       string
	b       []byte
	absent  bool
	at      int64 // offset of the first occurrence; -1 while unseen
	line    int64 // its line, from 1
	excerpt string
}

func newLiterals(contains, absent []string) *literals {
	l := &literals{}
	add := func(s string, absent bool) {
		nd := &needle{s: s, b: []byte(s), absent: absent, at: -1}
		if s == "" {
			nd.at, nd.line, nd.excerpt = 0, 1, `""` // in every output
		} else {
			l.left++
			l.keep = max(l.keep, len(s)-1)
		}
		l.needles = append(l.needles, nd)
	}
	for _, s := range contains {
		add(s, false)
	}
	for _, s := range absent {
		add(s, true)
	}
	l.carry = make([]byte, 0, l.keep)
	l.join = make([]byte, 0, 2*l.keep)
	return l
}

func (l *literals) feed(b []byte) {
	if l.left == 0 {
		return
	}
	// An occurrence that starts in the carry ends in the first keep bytes
	// of b; one wholly in b is found in b.
	l.join = append(append(l.join[:0], l.carry...), b[:min(len(b), l.keep)]...)
	for _, nd := range l.needles {
		if nd.at >= 0 {
			continue
		}
		if i := bytes.Index(l.join, nd.b); i >= 0 {
			l.found(nd, l.join, i, l.off-int64(len(l.carry)), l.lines-int64(bytes.Count(l.carry, newlines[:1])))
		} else if i := bytes.Index(b, nd.b); i >= 0 {
			l.found(nd, b, i, l.off, l.lines)
		}
	}
	l.lines += int64(bytes.Count(b, newlines[:1]))
	l.off += int64(len(b))
	if len(b) >= l.keep {
		l.carry = append(l.carry[:0], b[len(b)-l.keep:]...)
		return
	}
	if drop := len(l.carry) + len(b) - l.keep; drop > 0 {
		l.carry = l.carry[:copy(l.carry, l.carry[drop:])]
	}
	l.carry = append(l.carry, b...)
}

// found records nd at buf[i:], buf starting at stream offset base after
// linesBefore newlines.
func (l *literals) found(nd *needle, buf []byte, i int, base, linesBefore int64) {
	l.left--
	nd.at = base + int64(i)
	nd.line = linesBefore + int64(bytes.Count(buf[:i], newlines[:1])) + 1
	nd.excerpt = excerpt(buf, i, i+len(nd.b))
}

// excerpt quotes the line of buf around buf[i:j], as far as buf holds it,
// and at most 100 bytes on either side.
func excerpt(buf []byte, i, j int) string {
	from := max(0, i-100)
	if k := bytes.LastIndexByte(buf[from:i], '\n'); k >= 0 {
		from += k + 1
	}
	to := min(len(buf), j+100)
	if k := bytes.IndexByte(buf[j:to], '\n'); k >= 0 {
		to = j + k
	}
	return strconv.Quote(string(buf[from:to]))
}

// equality compares a stream with the expected text as it arrives.
type equality struct {
	want string
	n    int64
	diff int64  // the first differing offset; -1 while equal so far
	got  string // the output from diff on (a few bytes), quoted
	head []byte // the output's first shortLen+1 bytes, for messages
}

const shortLen = 200

func (e *equality) feed(b []byte) {
	if len(e.head) <= shortLen {
		e.head = append(e.head, b[:min(len(b), shortLen+1-len(e.head))]...)
	}
	if e.diff < 0 {
		rest := e.want[min(e.n, int64(len(e.want))):]
		if len(b) > len(rest) || string(b) != rest[:len(b)] {
			i := 0
			for i < len(b) && i < len(rest) && b[i] == rest[i] {
				i++
			}
			e.diff = e.n + int64(i)
			e.got = strconv.Quote(string(b[i:min(len(b), i+40)]))
		}
	}
	e.n += int64(len(b))
}

func (e *equality) unmet(name string) string {
	switch {
	case e.diff < 0 && e.n == int64(len(e.want)):
		return ""
	case e.n <= shortLen:
		return fmt.Sprintf("%s is %s, expected exactly %s", name, short(string(e.head)), short(e.want))
	case e.diff < 0:
		return fmt.Sprintf("%s is not exactly the expected text: it ends after %d bytes, of the %d expected", name, e.n, len(e.want))
	}
	return fmt.Sprintf("%s (%d bytes) is not exactly the expected text (%d bytes): from byte %d it reads %s", name, e.n, len(e.want), e.diff, e.got)
}
