package secret

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Cuts reports whether a template's result holds a piece of a secret.
// real is the result; alts[f] is the template rendered with family f's
// stand-ins, when ok[f] (stand-ins can break a template that the real
// values pass, e.g. fromJson).
func (s *Set) Cuts(real string, alts [Families]string, ok [Families]bool) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !slices.Contains(ok[:], false) && s.cutsAlt(alts) || s.cutsReal(real, alts, ok) || s.cutsShort(real, alts, ok)
}

// cutsShort looks at the parts of the real rendering that a secret made
// (where it differs from a stand-in rendering) and that are too short to be
// masked: one with OutputWindow letters and digits of a secret in order,
// or that spells OutputWindow runes of it (see CutsReal) with a rune on
// each side (a secret's punctuation is its stand-ins' too, so it is never
// in the part that differs), is a piece, confirmed or not. A template that
// shuffles a piece puts its letters where no stand-in rendering confirms
// them.
func (s *Set) cutsShort(real string, alts [Families]string, ok [Families]bool) bool {
	for f := range alts {
		if !ok[f] {
			continue
		}
		for _, seg := range Segments(real, alts[f]) {
			if seg == "" || len(seg) >= MinLen {
				continue
			}
			if s.cutsReal(seg, [Families]string{}, [Families]bool{}) {
				return true
			}
			for off := 0; off < len(real); {
				i := strings.Index(real[off:], seg)
				if i < 0 {
					break
				}
				from, to := off+i, off+i+len(seg)
				_, before := utf8.DecodeLastRuneInString(real[:from])
				_, after := utf8.DecodeRuneInString(real[to:])
				if s.spells(real[from-before : to+after]) {
					return true
				}
				off = from + 1
			}
		}
	}
	return false
}

// cutsAlt looks at the stand-in renderings: on some line, letters of a
// secret's stand-in in its order, but not all of them. It is reported only
// when every family shows the same piece at the same place: a template
// that shuffles letters at random, or a hash that happens to spell three
// of them, cuts nothing.
func (s *Set) cutsAlt(alts [Families]string) bool {
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

// cutsReal looks at the real rendering: templateWindow letters and digits
// of a secret in its order, outside every whole occurrence of it (in any of
// its forms, or its letters and digits with other punctuation), that some
// stand-in rendering confirms: its line holds that family's stand-in of
// those letters at the same place, counted in letters and digits, give or
// take the difference in length of the two lines (letters cut from both
// ends of the secret, not of the stand-in). The confirmation tells a piece
// from letters the template wrote itself or a hash spelled by chance; one
// family is enough, since a template may take another path with a
// stand-in than with the secret (a split on a letter the stand-in lacks
// leaves it whole where it cuts the secret), and the stand-ins of the
// families share no letter. With no stand-in rendering, any OutputWindow
// such letters are a piece.
func (s *Set) cutsReal(real string, alts [Families]string, ok [Families]bool) bool {
	lines := strings.Split(strings.ToLower(real), "\n")
	var altLines [Families][]string
	for f := range alts {
		if ok[f] {
			altLines[f] = strings.Split(strings.ToLower(alts[f]), "\n")
		}
	}
	unconfirmed := !slices.Contains(ok[:], true)
	n := templateWindow
	if unconfirmed {
		n = OutputWindow // letters a template wrote may spell 3 of a secret
	}
	for _, u := range s.units {
		if strings.Contains(u.s, "\n") {
			continue
		}
		forms := make([]string, len(u.forms))
		for i, form := range u.forms {
			forms[i] = strings.ToLower(form.s)
		}
		unit := []rune(alnum(forms[0]))
		at := map[string][]int{} // window text -> its places in unit
		for j := 0; j+n <= len(unit); j++ {
			w := string(unit[j : j+n])
			at[w] = append(at[w], j)
		}
		for li, line := range lines {
			letters, whole := project(line, forms, unit)
			for p := 0; p+n <= len(letters); p++ {
				if slices.Contains(whole[p:p+n], true) {
					continue
				}
				for _, j := range at[string(letters[p:p+n])] {
					if unconfirmed {
						return true
					}
					for f := range altLines {
						if li >= len(altLines[f]) {
							continue
						}
						alt, altUnit := []rune(alnum(altLines[f][li])), []rune(alnum(strings.ToLower(u.alt[f])))
						if j+n > len(altUnit) {
							continue // lower case changed its length
						}
						want := string(altUnit[j : j+n])
						d := len(alt) - len(letters)
						for q := p + min(d, 0); q <= p+max(d, 0); q++ {
							if runesAt(alt, q, want) {
								return true
							}
						}
					}
				}
			}
		}
	}
	return false
}

// project returns the letters and digits of line and, for each, whether
// it lies in a whole occurrence of a unit: one of its forms (lower case,
// the unit's own first) or all of its letters and digits (unit) in order.
func project(line string, forms []string, unit []rune) ([]rune, []bool) {
	inForm := make([]bool, len(line))
	for _, form := range forms {
		if len(form) < MinLen {
			continue
		}
		for off := 0; off < len(line); {
			i := strings.Index(line[off:], form)
			if i < 0 {
				break
			}
			for k := off + i; k < off+i+len(form); k++ {
				inForm[k] = true
			}
			off += i + 1
		}
	}
	var letters []rune
	var whole []bool
	for i, r := range line {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			letters = append(letters, r)
			whole = append(whole, inForm[i])
		}
	}
	for p := 0; len(unit) > 0 && p+len(unit) <= len(letters); p++ {
		if slices.Equal(letters[p:p+len(unit)], unit) {
			for k := p; k < p+len(unit); k++ {
				whole[k] = true
			}
		}
	}
	return letters, whole
}

// runesAt reports whether want is in s at rune index i.
func runesAt(s []rune, i int, want string) bool {
	w := []rune(want)
	return i >= 0 && i+len(w) <= len(s) && slices.Equal(s[i:i+len(w)], w)
}

// CutsReal reports whether a value known only at run time (a task output)
// holds a piece of a secret: OutputWindow runes of it in a row, all but one
// of them letters or digits, without the whole secret around it, case
// aside.
func (s *Set) CutsReal(v string) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.spells(v)
}

// spells is CutsReal with the lock held.
func (s *Set) spells(v string) bool {
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

// windows are unit's runs of n runes with at most one that is not a
// letter or digit (punctuation and spaces are too common to tell a piece
// by, but a dash between letters is part of one).
func windows(runes []rune, n int) []window {
	var out []window
	for i := 0; i+n <= len(runes); i++ {
		other := 0
		for _, r := range runes[i : i+n] {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				other++
			}
		}
		if other <= 1 {
			out = append(out, window{string(runes[i : i+n]), i, i + n})
		}
	}
	return out
}
