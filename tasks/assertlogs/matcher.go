package assertlogs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kbrun/kbrun/engine/task"
)

// expectation is one contains or matches entry.
type expectation struct {
	text  string         // contains
	re    *regexp.Regexp // matches
	group int            // 0: contains, 1: matches (inOrder works per group)
	line  int            // line number (from 1) that satisfied it; 0 = unmet
	got   string
}

func (e *expectation) String() string {
	if e.re != nil {
		return "a line matching " + strconv.Quote(e.re.String())
	}
	return "a line containing " + strconv.Quote(e.text)
}

func (e *expectation) match(line string) bool {
	if e.re != nil {
		return e.re.MatchString(line)
	}
	return strings.Contains(line, e.text)
}

// Matcher checks log lines against the expectations, one line at a time.
type Matcher struct {
	exps    []*expectation
	absent  []string
	inOrder bool
	n       int
	tail    []string
	tailMax int
	// Violation is set when an absent string appeared.
	Violation string
}

// NewMatcher compiles the expectations.
func NewMatcher(contains, matches []string, inOrder bool, absent []string) (*Matcher, error) {
	m := &Matcher{inOrder: inOrder, absent: absent, tailMax: 50}
	for _, c := range contains {
		m.exps = append(m.exps, &expectation{text: c, group: 0})
	}
	for i, s := range matches {
		if task.IsUnknown(s) {
			s = regexp.QuoteMeta(s) // prepared again with its value at run time
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, task.Fieldf([]string{"matches", strconv.Itoa(i)}, "%q is not a regular expression: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		m.exps = append(m.exps, &expectation{re: re, group: 1})
	}
	return m, nil
}

// Line feeds one line; it returns true once every expectation holds.
func (m *Matcher) Line(line string) bool {
	m.n++
	m.tail = append(m.tail, line)
	if len(m.tail) > m.tailMax {
		m.tail = m.tail[len(m.tail)-m.tailMax:]
	}
	for _, a := range m.absent {
		if strings.Contains(line, a) && m.Violation == "" {
			m.Violation = fmt.Sprintf("line %d contains %q, which must be absent: %s", m.n, a, line)
		}
	}
	for g := 0; g < 2; g++ {
		for _, e := range m.exps {
			if e.group != g || e.line != 0 {
				continue
			}
			if e.match(line) {
				e.line, e.got = m.n, line
				if m.inOrder {
					break // one expectation per line and group, in order
				}
			} else if m.inOrder {
				break // the next in order is the only candidate
			}
		}
	}
	return m.Done()
}

// Done reports whether every positive expectation holds.
func (m *Matcher) Done() bool {
	for _, e := range m.exps {
		if e.line == 0 {
			return false
		}
	}
	return true
}

// HasPositive reports whether there are contains/matches expectations.
func (m *Matcher) HasPositive() bool { return len(m.exps) > 0 }

// Unmet lists the expectations not yet met, as sentences.
func (m *Matcher) Unmet() []string {
	var out []string
	for i, e := range m.exps {
		if e.line != 0 {
			continue
		}
		s := e.String()
		if m.inOrder {
			if prev := m.prevInGroup(i); prev != nil && prev.line != 0 {
				s += fmt.Sprintf(" after line %d", prev.line)
			} else if prev != nil {
				s += " (after " + prev.String() + ")"
			}
		}
		out = append(out, s)
	}
	return out
}

func (m *Matcher) prevInGroup(i int) *expectation {
	for j := i - 1; j >= 0; j-- {
		if m.exps[j].group == m.exps[i].group {
			return m.exps[j]
		}
	}
	return nil
}

// Matched returns the lines that satisfied the expectations, in their order.
func (m *Matcher) Matched() []any {
	out := []any{}
	for _, e := range m.exps {
		if e.line != 0 {
			out = append(out, e.got)
		}
	}
	return out
}

// Captures are the named groups of the matches patterns, from the lines
// that met them.
func (m *Matcher) Captures() map[string]any {
	out := map[string]any{}
	for _, e := range m.exps {
		if e.re == nil || e.line == 0 {
			continue
		}
		sub := e.re.FindStringSubmatch(e.got)
		for i, name := range e.re.SubexpNames() {
			if name != "" && i < len(sub) {
				out[name] = sub[i]
			}
		}
	}
	return out
}

// Lines is the number of lines read.
func (m *Matcher) Lines() int { return m.n }

// Tail returns the last lines read (at most 50).
func (m *Matcher) Tail() []string { return m.tail }
