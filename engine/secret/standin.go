package secret

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Letters and digits of each family's stand-ins: disjoint, so that the two
// stand-ins of a secret differ in every letter and digit, and without the
// letters of hexadecimal, so that a hash never spells a stand-in's letters.
var (
	familyLetters = [Families]string{"ghijklmnop", "qrstuvwxyz"}
	familyDigits  = [Families]string{"01234", "56789"}
)

// standin returns family f's stand-in for v: every letter and digit
// replaced by another (an ASCII one of the same case), everything else
// kept, so that a template takes it apart as it would take v (split on its
// dashes, its lines). Each line is replaced on its own, seeded by its
// content, so that a line of a multi-line secret has the same stand-in
// alone as within the whole.
func standin(v string, f int) string {
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		lines[i] = standinLine(l, f)
	}
	return strings.Join(lines, "\n")
}

func standinLine(line string, f int) string {
	h := fnv.New64a()
	h.Write([]byte(strings.TrimSpace(line)))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(f)))
	pick := func(from string, not rune) rune {
		for {
			if c := rune(from[rng.IntN(len(from))]); c != not {
				return c
			}
		}
	}
	alnum := strings.IndexFunc(line, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
	var b strings.Builder
	for _, r := range line {
		switch {
		case unicode.IsDigit(r):
			b.WriteRune(pick(familyDigits[f], r))
		case unicode.IsLetter(r):
			c := pick(familyLetters[f], unicode.ToLower(r))
			if unicode.IsUpper(r) {
				c = unicode.ToUpper(c)
			}
			b.WriteRune(c)
		case !alnum && !unicode.IsSpace(r):
			// Nothing but punctuation: the stand-in must still differ.
			b.WriteRune(pick(familyLetters[f], r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var title = cases.Title(language.Und, cases.NoLower)

// encodings are the base64 forms templates and commands make of a secret.
var encodings = []func([]byte) string{
	base64.StdEncoding.EncodeToString, base64.URLEncoding.EncodeToString,
	base64.RawStdEncoding.EncodeToString, base64.RawURLEncoding.EncodeToString,
}

// variantPairs returns e and its common forms (base64, quoted, JSON- and
// URL-, HTML- and JavaScript-escaped, upper, lower and title case), each with the same form of
// its stand-ins.
func variantPairs(e *entry) []*entry {
	out := []*entry{e}
	apply := func(fn func(string) string) {
		v := &entry{s: fn(e.s)}
		for f := range Families {
			v.alt[f] = fn(e.alt[f])
		}
		out = append(out, v)
	}
	for _, enc := range encodings {
		apply(func(s string) string { return enc([]byte(s)) })
	}
	apply(func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] })
	apply(func(s string) string { j, _ := json.Marshal(s); return string(j[1 : len(j)-1]) })
	apply(url.QueryEscape) // urlquery's too
	apply(url.PathEscape)
	// Templates' own escapes (html, js): whole forms, masked as such.
	apply(template.HTMLEscapeString)
	apply(template.JSEscapeString)
	apply(strings.ToUpper)
	apply(strings.ToLower)
	apply(title.String)
	// Inside a single-quoted shell word, as plans and live lines quote
	// argv: a ' is written '\''.
	for _, v := range slices.Clone(out) {
		if strings.Contains(v.s, "'") {
			w := &entry{s: shellQuoted(v.s)}
			for f := range Families {
				w.alt[f] = shellQuoted(v.alt[f])
			}
			out = append(out, w)
		}
	}
	return out
}

func shellQuoted(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }

// Alt returns str with every secret (and every part of a value that a
// secret made) replaced by its stand-in of family f.
func (s *Set) Alt(str string, f int) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.replace(str, f)
}

// replace is Alt with the lock held. The longest of the values that start
// at the leftmost place is replaced first.
func (s *Set) replace(str string, f int) string {
	type hit struct {
		start int
		e     *entry
	}
	var hits []hit
	for _, e := range s.cores {
		for off := 0; off < len(str) && len(e.s) <= len(str)-off; {
			i := strings.Index(str[off:], e.s)
			if i < 0 {
				break
			}
			hits = append(hits, hit{off + i, e})
			off += i + 1
		}
	}
	if len(hits) == 0 {
		return str
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].start != hits[j].start {
			return hits[i].start < hits[j].start
		}
		return len(hits[i].e.s) > len(hits[j].e.s)
	})
	var b strings.Builder
	last := 0
	for _, h := range hits {
		if h.start < last {
			continue
		}
		b.WriteString(str[last:h.start])
		b.WriteString(h.e.alt[f])
		last = h.start + len(h.e.s)
	}
	b.WriteString(str[last:])
	return b.String()
}

// AltValue returns a copy of a template data tree (maps, lists, strings)
// with every string replaced as Alt does; map keys are replaced too.
func (s *Set) AltValue(v any, f int) any {
	switch x := v.(type) {
	case string:
		return s.Alt(x, f)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = s.AltValue(item, f)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, item := range x {
			out[i] = s.Alt(item, f)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[s.Alt(k, f)] = s.AltValue(item, f)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, item := range x {
			out[s.Alt(k, f)] = s.Alt(item, f)
		}
		return out
	default:
		return v
	}
}

// Segments compares a value rendered with the secrets (real) and with
// their stand-ins (alt) and returns the parts of real that the secrets
// made, widened to whole tokens (a base64 or hex run, a URL-escaped word,
// a word in any script), line by line when both have the same lines. When
// they do not (a template that breaks lines where the secret has some
// letter), each line of the part that differs is one: output is masked a
// line at a time, so a part with a newline would never be.
func Segments(real, alt string) []string {
	if real == alt {
		return nil
	}
	rl, al := strings.Split(real, "\n"), strings.Split(alt, "\n")
	if len(rl) != len(al) {
		return strings.Split(segment(real, alt), "\n")
	}
	var out []string
	for i := range rl {
		if rl[i] != al[i] {
			out = append(out, segment(rl[i], al[i]))
		}
	}
	return out
}

func segment(real, alt string) string {
	start, end := span(real, alt)
	return real[start:end]
}

// span is where real and alt differ, widened to whole tokens.
func span(real, alt string) (start, end int) {
	p := 0
	for p < len(real) && p < len(alt) && real[p] == alt[p] {
		p++
	}
	q := 0
	for q < len(real)-p && q < len(alt)-p && real[len(real)-1-q] == alt[len(alt)-1-q] {
		q++
	}
	start, end = p, len(real)-q
	for start > 0 && (token(real[start-1]) || start < len(real) && !utf8.RuneStart(real[start])) {
		start--
	}
	for end < len(real) && (token(real[end]) || !utf8.RuneStart(real[end])) {
		end++
	}
	return start, end
}

// MaskDiff masks in real (a message rendered with the secrets) what
// differs from alt (the same rendered with their stand-ins), line by line
// when both have the same lines: every part a secret made, pieces
// included, whatever their length.
func MaskDiff(real, alt string) string {
	if real == alt {
		return real
	}
	rl, al := strings.Split(real, "\n"), strings.Split(alt, "\n")
	if len(rl) != len(al) {
		rl, al = []string{real}, []string{alt}
	}
	for i := range rl {
		if rl[i] != al[i] {
			start, end := span(rl[i], al[i])
			rl[i] = rl[i][:start] + Mask + rl[i][end:]
		}
	}
	return strings.Join(rl, "\n")
}

// token reports whether c belongs to an encoded run or a word: base64
// (std and URL), hex, URL escapes, and any non-ASCII byte.
func token(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 || strings.IndexByte("+/=_-%~", c) >= 0
}
