package secret

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
)

const pw = `s3cr3t "pa/ss"+w`

// What templates commonly make of a secret is masked as well as the secret.
func TestAddMasksTheSecretAndItsForms(t *testing.T) {
	var s Set
	s.Add(pw)
	for _, form := range []string{
		pw,
		base64.StdEncoding.EncodeToString([]byte(pw)),
		base64.RawURLEncoding.EncodeToString([]byte(pw)),
		`s3cr3t \"pa/ss\"+w`, // quoted and JSON-escaped
		url.QueryEscape(pw),
		url.PathEscape(pw),
	} {
		if got := s.Mask("before " + form + " after"); got != "before *** after" {
			t.Errorf("%q masked as %q", form, got)
		}
	}
}

// A value shorter than MinLen is not masked: it would blank out common
// letters everywhere.
func TestShortValuesAreNotMasked(t *testing.T) {
	var s Set
	s.AddDerived("abcde")
	if !s.Empty() || s.Mask("abcde") != "abcde" {
		t.Errorf("a %d-letter value was masked", len("abcde"))
	}
	var nilSet *Set
	if !nilSet.Empty() || nilSet.Mask("x") != "x" || nilSet.Value("x") != "x" {
		t.Error("a nil Set changed its input")
	}
}

// A value containing another is masked whole, not as "***" plus its rest.
func TestLongestFirst(t *testing.T) {
	var s Set
	s.AddDerived("token-123456")
	s.AddDerived("Bearer token-123456-suffix")
	if got := s.Mask("h: Bearer token-123456-suffix; t: token-123456"); got != "h: ***; t: ***" {
		t.Errorf("got %q", got)
	}
}

func TestValueMasksNestedCopies(t *testing.T) {
	var s Set
	s.AddDerived("hunter22")
	in := map[string]any{
		"list":      []any{"a hunter22", 3, map[string]any{"hunter22": "x"}},
		"strings":   []string{"hunter22"},
		"untouched": 7,
	}
	got := s.Value(in)
	want := map[string]any{
		"list":      []any{"a ***", 3, map[string]any{"***": "x"}},
		"strings":   []string{"***"},
		"untouched": 7,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
	if in["strings"].([]string)[0] != "hunter22" {
		t.Error("Value changed its input")
	}
}

// A stand-in differs from the secret in every letter and digit (in each
// family, and between families), keeps everything else, and gives a line
// of a multi-line secret the same stand-in alone as within the whole.
func TestStandin(t *testing.T) {
	v := "aZ9-xé пароль\nline-two-Ü"
	a, b := standin(v, 0), standin(v, 1)
	ra, rb, rv := []rune(a), []rune(b), []rune(v)
	if len(ra) != len(rv) || len(rb) != len(rv) {
		t.Fatalf("%q, %q: not one rune for each of %q", a, b, v)
	}
	for i, r := range rv {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if alnum && (unicode.ToLower(ra[i]) == unicode.ToLower(r) || ra[i] == rb[i] || ra[i] >= 0x80) {
			t.Errorf("rune %d %q: stand-ins %q %q", i, r, ra[i], rb[i])
		}
		if !alnum && (ra[i] != r || rb[i] != r) {
			t.Errorf("rune %d %q changed", i, r)
		}
	}
	if got := standin("line-two-Ü", 0); got != strings.Split(a, "\n")[1] {
		t.Errorf("a line alone: %q, within the whole: %q", got, a)
	}
	if standin("------", 0) == "------" {
		t.Error("a secret of punctuation only kept its stand-in")
	}
}

// Segments returns what the secret made in a rendered value, widened to
// the whole encoded token, line by line.
func TestSegments(t *testing.T) {
	real := "user: bob\nauth: " + base64.StdEncoding.EncodeToString([]byte("bob:"+pw)) + "\nhost: x"
	alt := "user: bob\nauth: " + base64.StdEncoding.EncodeToString([]byte("bob:"+standin(pw, 0))) + "\nhost: x"
	got := Segments(real, alt)
	if len(got) != 1 || got[0] != base64.StdEncoding.EncodeToString([]byte("bob:"+pw)) {
		t.Errorf("got %q", got)
	}
	if Segments("same", "same") != nil {
		t.Error("no difference gave segments")
	}
	if got := Segments("ab", "ab-12"); !slices.Equal(got, []string{"ab"}) {
		t.Errorf("real a prefix of alt: %q", got)
	}
	// Output is masked a line at a time: a part spanning lines is given
	// line by line.
	if got := Segments("x: ab12\ncd34", "x: gh01"); !slices.Equal(got, []string{"ab12", "cd34"}) {
		t.Errorf("different line counts: %q", got)
	}
}

// Masking goes on while templates add derived values (parallel tasks).
func TestConcurrentAddAndMask(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			s.AddDerived(strings.Repeat(string(rune('a'+i)), 8))
		}(i)
		go func() {
			defer wg.Done()
			_ = s.Mask("aaaaaaaa bbbbbbbb")
		}()
	}
	wg.Wait()
	if got := s.Mask("aaaaaaaa dddddddd"); got != "*** ***" {
		t.Errorf("got %q", got)
	}
}
