package tmpl

import (
	"fmt"
	"strings"
)

// text/template reports a block without {{ end }} as "unexpected EOF" at
// the template's last line, and an action without }} by its line only:
// neither says which action is wrong. blockError finds it by scanning the
// actions and says it in the pipeline's words, at the action's line and
// column; it returns nil for any other parse error.
func blockError(text, goMsg string) *Error {
	var want string
	switch {
	case strings.HasSuffix(goMsg, "unexpected EOF"):
		want = "open"
	case strings.HasSuffix(goMsg, "unclosed action"), strings.HasSuffix(goMsg, "unclosed comment"):
		want = "unclosed"
	case strings.HasSuffix(goMsg, "unexpected {{end}}"), strings.HasSuffix(goMsg, "unexpected {{else}}"):
		want = "stray"
	default:
		return nil
	}
	s := scanActions(text)
	switch {
	case want == "unclosed" && s.unclosed != nil:
		return at(text, s.unclosed.off, "this action has no closing }}")
	case want == "stray" && s.stray != nil:
		return at(text, s.stray.off, fmt.Sprintf("{{ %s }} closes nothing: no if, range, with, define or block is open here", s.stray.word))
	case want == "open" && len(s.open) > 0:
		a := s.open[len(s.open)-1]
		msg := fmt.Sprintf("{{ %s }} is not closed: add {{ end }} where its block ends", a.word)
		for _, o := range s.open[:len(s.open)-1] {
			line, col := LineCol(text, o.off)
			msg += fmt.Sprintf("; so is {{ %s }} at line %d:%d", o.word, line, col)
		}
		return at(text, a.off, msg)
	}
	return nil
}

func at(text string, off int, msg string) *Error {
	line, col := LineCol(text, off)
	return &Error{Line: line, Col: col, Msg: msg}
}

// action is one {{ ... }} of a template: where it starts and its keyword.
type action struct {
	off  int
	word string
}

type scan struct {
	open     []action // blocks not yet ended, innermost last
	stray    *action  // the first end or else with no block open
	unclosed *action  // an action or comment without its }}
}

// scanActions walks text's actions as text/template's lexer does (quoted
// strings and comments inside actions do not end them).
func scanActions(text string) scan {
	var s scan
	for i := 0; ; {
		j := strings.Index(text[i:], "{{")
		if j < 0 {
			return s
		}
		start := i + j
		body, end, ok := actionBody(text, start+2)
		if !ok {
			s.unclosed = &action{off: start}
			return s
		}
		i = end
		word := firstWord(body)
		switch word {
		case "if", "range", "with", "define", "block":
			s.open = append(s.open, action{off: start, word: word})
		case "end":
			if len(s.open) == 0 {
				if s.stray == nil {
					s.stray = &action{off: start, word: word}
				}
				continue
			}
			s.open = s.open[:len(s.open)-1]
		case "else":
			if len(s.open) == 0 && s.stray == nil {
				s.stray = &action{off: start, word: word}
			}
		}
	}
}

// actionBody returns the text of the action starting at i (after its
// {{) and the offset after its }}; ok is false when it never ends.
func actionBody(text string, i int) (body string, end int, ok bool) {
	from := i
	rest := strings.TrimLeft(strings.TrimPrefix(text[i:], "-"), " \t\r\n")
	if strings.HasPrefix(rest, "/*") {
		k := strings.Index(rest[2:], "*/")
		if k < 0 {
			return "", 0, false
		}
		i = len(text) - len(rest) + 2 + k + 2
	}
	for i < len(text) {
		switch c := text[i]; c {
		case '"', '`', '\'':
			k := i + 1
			for k < len(text) && text[k] != c {
				if text[k] == '\\' && c != '`' {
					k++
				}
				k++
			}
			if k >= len(text) {
				return "", 0, false
			}
			i = k + 1
		case '}':
			if strings.HasPrefix(text[i:], "}}") {
				return text[from:i], i + 2, true
			}
			i++
		default:
			i++
		}
	}
	return "", 0, false
}

func firstWord(body string) string {
	body = strings.TrimLeft(strings.TrimPrefix(body, "-"), " \t\r\n")
	end := strings.IndexFunc(body, func(r rune) bool { return !(r >= 'a' && r <= 'z') })
	if end < 0 {
		return body
	}
	return body[:end]
}
