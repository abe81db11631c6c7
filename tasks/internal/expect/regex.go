package expect

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"
)

// A pattern is matched against the whole output as one text, as it
// arrives: regexp reads it through io.RuneReader (FindReaderSubmatchIndex),
// whose automaton needs memory for the pattern only, whatever the length
// of the output. `^` and `$` are the output's start and end unless (?m)
// makes them a line's, and `(?s).` crosses lines, as on a string. The one
// bound is on named groups: their text is taken from the last keepBack
// bytes read when the match was decided, so a group that starts further
// back is an unmet expectation that says so.
const (
	keepBack = 64 << 10
	readSize = 32 << 10
)

// errDecided closes a pattern's pipe once the match is decided: the rest
// of the output is not needed.
var errDecided = errors.New("match decided")

// reJudge matches one pattern in its own goroutine, which reads what feed
// writes through a pipe (a write returns once the pattern has read it).
type reJudge struct {
	re   *regexp.Regexp
	pw   *io.PipeWriter // nil once the match is decided
	done chan struct{}
	// Set by the goroutine before done is closed.
	matched bool
	groups  map[string]string
	problem string
}

func startRE(re *regexp.Regexp) *reJudge {
	pr, pw := io.Pipe()
	j := &reJudge{re: re, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		w := &window{r: pr, buf: make([]byte, keepBack+readSize)}
		loc := re.FindReaderSubmatchIndex(w)
		_ = pr.CloseWithError(errDecided)
		if loc == nil {
			return
		}
		j.matched, j.groups = true, map[string]string{}
		for i, name := range re.SubexpNames() {
			if name == "" {
				continue
			}
			from, to := loc[2*i], loc[2*i+1]
			if from < 0 {
				j.groups[name] = "" // the group took no part in the match
				continue
			}
			text, ok := w.text(int64(from), int64(to))
			if !ok {
				j.problem = fmt.Sprintf("matches /%s/ (bytes %d to %d), but its group %s starts more than %d KiB before where the match was decided, and only that much is kept: make the group shorter", re, loc[0], loc[1], name, keepBack>>10)
				return
			}
			j.groups[name] = text
		}
	}()
	return j
}

func (j *reJudge) feed(b []byte) {
	if j.pw == nil {
		return
	}
	if _, err := j.pw.Write(b); err != nil {
		j.pw = nil // decided
	}
}

// finish ends the pattern's input, waits for its verdict, and adds its
// named groups to captures; it returns why the pattern is unmet, or "".
func (j *reJudge) finish(captures map[string]any) string {
	if j.pw != nil {
		_ = j.pw.Close()
		j.pw = nil
	}
	<-j.done
	switch {
	case j.problem != "":
		return j.problem
	case !j.matched:
		return fmt.Sprintf("does not match /%s/", j.re)
	}
	for name, text := range j.groups {
		captures[name] = text
	}
	return ""
}

// window is the io.RuneReader a pattern reads the output through. buf
// holds up to keepBack bytes before the read position and up to readSize
// after it; start is the output offset of buf[0].
type window struct {
	r        io.Reader
	buf      []byte
	start    int64
	pos, end int
	err      error
}

// ReadRune implements io.RuneReader. Bytes that are not UTF-8 are read as
// utf8.RuneError, one byte each, so offsets are byte offsets.
func (w *window) ReadRune() (rune, int, error) {
	if w.pos < w.end && w.buf[w.pos] < utf8.RuneSelf {
		w.pos++
		return rune(w.buf[w.pos-1]), 1, nil
	}
	for !utf8.FullRune(w.buf[w.pos:w.end]) && w.err == nil {
		w.fill()
	}
	if w.pos == w.end {
		return 0, 0, w.err
	}
	r, n := utf8.DecodeRune(w.buf[w.pos:w.end])
	w.pos += n
	return r, n, nil
}

func (w *window) fill() {
	if w.end == len(w.buf) {
		// Full: keep keepBack bytes before pos (pos is within a rune of
		// the end, so this frees about readSize).
		drop := w.pos - keepBack
		copy(w.buf, w.buf[drop:w.end])
		w.pos -= drop
		w.end -= drop
		w.start += int64(drop)
	}
	n, err := w.r.Read(w.buf[w.end:])
	w.end += n
	if err != nil {
		w.err = err
	}
}

// text returns the output from offset from to offset to, if buf holds it.
func (w *window) text(from, to int64) (string, bool) {
	if from < w.start || to > w.start+int64(w.end) {
		return "", false
	}
	return string(w.buf[from-w.start : to-w.start]), true
}
