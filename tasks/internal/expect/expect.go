// Package expect checks what a command printed and how it exited (the
// `expect:` of exec and run), and turns the named groups of its patterns
// into outputs: `matches: 'digest: (?P<digest>sha256:[0-9a-f]{64})'` checks
// that the line is there and publishes .tasks.NAME.digest.
package expect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kbrun/kbrun/engine/task"
)

// Strings is one string or a list of them.
type Strings []string

// UnmarshalJSON takes a string or a list of strings.
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Text is what one output stream must hold.
type Text struct {
	// Equals is the whole output (without its last newline).
	Equals *string `json:"equals,omitempty"`
	// Contains are strings the output must contain.
	Contains Strings `json:"contains,omitempty"`
	// Matches are regular expressions the output must match; their named
	// groups (from the first match) become outputs.
	Matches Strings `json:"matches,omitempty"`
	// Absent are strings the output must not contain.
	Absent Strings `json:"absent,omitempty"`
}

// Expect is a task's `expect:`.
type Expect struct {
	ExitCode *int  `json:"exitCode,omitempty"`
	Stdout   *Text `json:"stdout,omitempty"`
	Stderr   *Text `json:"stderr,omitempty"`
}

// Checker is a compiled Expect.
type Checker struct {
	e       Expect
	legacy  *int // expectExitCode, the older spelling of expect.exitCode
	streams []stream
}

type stream struct {
	name string
	t    *Text
	res  []*regexp.Regexp
}

// Compile checks the patterns (a stand-in for a value known only at run
// time is taken literally: the task is prepared again then). e is nil when
// the task has no expect:; legacyExitCode is its expectExitCode, which may
// not be given as well as expect.exitCode. Problems are task.FieldErrors.
func Compile(e *Expect, legacyExitCode *int) (*Checker, error) {
	c := &Checker{legacy: legacyExitCode}
	if e != nil {
		c.e = *e
	}
	if c.e.ExitCode != nil && legacyExitCode != nil {
		return nil, task.Fieldf([]string{"expectExitCode"}, "give the exit code once: expect.exitCode (expectExitCode is its older spelling)")
	}
	e = &c.e
	for _, s := range []stream{{name: "stdout", t: e.Stdout}, {name: "stderr", t: e.Stderr}} {
		if s.t == nil {
			continue
		}
		for i, m := range s.t.Matches {
			if task.IsUnknown(m) {
				m = regexp.QuoteMeta(m)
			}
			re, err := regexp.Compile(m)
			if err != nil {
				return nil, task.Fieldf([]string{"expect", s.name, "matches", strconv.Itoa(i)}, "%q is not a regular expression: %v", m, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			s.res = append(s.res, re)
		}
		c.streams = append(c.streams, s)
	}
	return c, nil
}

// Want is the exit code that counts as success.
func (c *Checker) Want() int {
	switch {
	case c.e.ExitCode != nil:
		return *c.e.ExitCode
	case c.legacy != nil:
		return *c.legacy
	}
	return 0
}

// Describe says what is checked besides the exit code, for plans: `stdout
// contains "ok", matches /v[0-9]+/`.
func (c *Checker) Describe() string {
	var parts []string
	for _, s := range c.streams {
		var what []string
		if s.t.Equals != nil {
			what = append(what, "equals "+strconv.Quote(*s.t.Equals))
		}
		for _, x := range s.t.Contains {
			what = append(what, "contains "+strconv.Quote(x))
		}
		for _, re := range s.res {
			what = append(what, "matches /"+re.String()+"/")
		}
		for _, x := range s.t.Absent {
			what = append(what, "lacks "+strconv.Quote(x))
		}
		if len(what) > 0 {
			parts = append(parts, s.name+" "+strings.Join(what, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

func short(s string) string {
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "..."
	}
	return strconv.Quote(s)
}

var groupName = regexp.MustCompile(`\(\?P?<([^>]*)>`)

// Captures lists the named groups of the patterns in unrendered task
// parameters (params["expect"]["stdout"|"stderr"]["matches"]), for the
// outputs a task declares before it runs.
func Captures(params any) []string {
	var out []string
	for _, m := range patterns(params) {
		for _, g := range groupName.FindAllStringSubmatch(m.text, -1) {
			if !slices.Contains(out, g[1]) {
				out = append(out, g[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

type pattern struct {
	text string
	path []string
}

func patterns(params any) []pattern {
	m, _ := params.(map[string]any)
	e, _ := m["expect"].(map[string]any)
	var out []pattern
	for _, name := range []string{"stdout", "stderr"} {
		t, _ := e[name].(map[string]any)
		switch x := t["matches"].(type) {
		case string:
			out = append(out, pattern{x, []string{"expect", name, "matches"}})
		case []any:
			for i, item := range x {
				if s, ok := item.(string); ok {
					out = append(out, pattern{s, []string{"expect", name, "matches", strconv.Itoa(i)}})
				}
			}
		}
	}
	return out
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckNames refuses, before anything runs, named groups that could not be
// outputs: a name templates cannot say, or one of the task's own outputs.
func CheckNames(params any, builtin []string) []task.FieldError {
	var out []task.FieldError
	for _, p := range patterns(params) {
		for _, g := range groupName.FindAllStringSubmatch(p.text, -1) {
			switch {
			case !identifier.MatchString(g[1]):
				out = append(out, task.FieldError{Path: p.path, Message: fmt.Sprintf("group name %q cannot be an output: use letters, digits and _, starting with a letter", g[1])})
			case slices.Contains(builtin, g[1]) || slices.Contains(task.EndOutputs, g[1]):
				out = append(out, task.FieldError{Path: p.path, Message: fmt.Sprintf("group name %q is already an output of the task: name the group otherwise", g[1])})
			}
		}
	}
	return out
}

// NoteCut says, as a line of the task's log (text, -o json and JUnit show
// it), that the output kept as .tasks.NAME.<stream> is not all the command
// printed: of its total bytes, the part ("first" or "last") kept bytes
// were kept. The expectations judged all of them.
func NoteCut(env *task.Env, stream string, total, kept int64, part string) {
	if total <= kept || env == nil || env.Logf == nil {
		return
	}
	env.Logf("%s was %d bytes: .tasks.%s.%s keeps its %s %d, %d bytes are cut (expect judged all of it)", stream, total, env.Task, stream, part, kept, total-kept)
}
