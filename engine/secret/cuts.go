package secret

import (
	"slices"
	"strings"
	"unicode"
)

// Pieces of a secret cannot be masked: a piece shorter than MinLen would
// mask common letters everywhere, and a longer one still shows part of the
// secret wherever it is printed apart from the rest. So a template that
// cuts a secret (substr, trunc, splitList, a regular expression's groups,
// a newline inserted every few letters) is refused, and so is a task
// output that holds a piece of one.

// templateWindow is the length, in letters and digits, of the shortest
// piece a stand-in rendering finds: three letters of a stand-in in the
// same order turn up by chance in one rendering often enough, in both at
// the same place practically never.
const templateWindow = 3

// OutputWindow is the length of the shortest piece of a secret looked for
// in task outputs (the named groups of a pattern) at run time.
const OutputWindow = 4

// Cuts reports whether the stand-in renderings of a template (alts[f]
// rendered with family f's stand-ins) hold a piece of a secret: on some
// line, letters of a secret's stand-in in its order, but not all of them.
// It is reported only when every family shows the same piece at the same
// place: a template that shuffles letters at random, or a hash that
// happens to spell three of them, cuts nothing.
func (s *Set) Cuts(alts [Families]string) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var common map[[4]int]bool
	for f := range Families {
		found := map[[4]int]bool{}
		lines := strings.Split(strings.ToLower(alts[f]), "\n")
		for ui, u := range s.units {
			if strings.Contains(u.s, "\n") {
				continue // its lines are units of their own
			}
			forms := make([]string, len(u.forms))
			for i, form := range u.forms {
				forms[i] = strings.ToLower(form.alt[f])
			}
			for li, line := range lines {
				for _, at := range partial(line, forms, templateWindow) {
					found[[4]int{ui, li, at[0], at[1]}] = true
				}
			}
		}
		if f == 0 {
			common = found
			continue
		}
		for k := range common {
			if !found[k] {
				delete(common, k)
			}
		}
	}
	return len(common) > 0
}

// CutsReal reports whether a value known only at run time (a task output)
// holds a piece of a secret of at least OutputWindow letters and digits
// without the whole secret around it, case aside.
func (s *Set) CutsReal(v string) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	lower := strings.ToLower(v)
	for _, u := range s.units {
		if strings.Contains(u.s, "\n") {
			continue
		}
		unit := strings.ToLower(u.s)
		rest := strings.ReplaceAll(lower, unit, "\x00")
		for _, w := range windows([]rune(unit), OutputWindow) {
			if strings.Contains(rest, w.text) {
				return true
			}
		}
	}
	return false
}

// partial returns where line holds a piece of a unit (forms: the unit
// first, then its other forms, all in lower case): windows of the unit's
// letters and digits, n long, that do not cover all of them, each as the
// window's place in the unit and in the line. Letters and digits are
// compared apart from what is between them, so that a quoted or escaped
// secret, or one whose dashes were removed, is whole; whole occurrences of
// the unit in any of its forms are set aside first, so that a line with
// the secret and a piece of it holds a piece.
func partial(line string, forms []string, n int) [][2]int {
	for _, form := range forms {
		if len(form) >= MinLen {
			line = strings.ReplaceAll(line, form, "\x00")
		}
	}
	unit := []rune(alnum(forms[0]))
	rest := strings.ReplaceAll(alnum(line), string(unit), "\x00")
	covered := make([]bool, len(unit))
	var at [][2]int
	for _, w := range windows(unit, n) {
		if i := strings.Index(rest, w.text); i >= 0 {
			at = append(at, [2]int{w.from, i})
			for j := w.from; j < w.to; j++ {
				covered[j] = true
			}
		}
	}
	if !slices.Contains(covered, false) {
		return nil
	}
	return at
}

// alnum keeps the letters and digits of s, and a \x00 for what was set
// aside.
func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == 0 {
			return r
		}
		return -1
	}, s)
}

type window struct {
	text     string
	from, to int // in runes
}

// windows are unit's runs of n runes that are all letters or digits
// (punctuation and spaces are too common to tell a piece by).
func windows(runes []rune, n int) []window {
	var out []window
	for i := 0; i+n <= len(runes); i++ {
		ok := true
		for _, r := range runes[i : i+n] {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, window{string(runes[i : i+n]), i, i + n})
		}
	}
	return out
}
