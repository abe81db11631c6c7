package secret

import (
	"strings"
	"testing"
)

// Two secrets that overlap in the output are masked as their union:
// masking one first would leave most of the other.
func TestOverlapMaskedAsUnion(t *testing.T) {
	var s Set
	s.Add("hunter2secret", "secretvalue99")
	if got := s.Mask("x hunter2secretvalue99 y"); got != "x *** y" {
		t.Errorf("got %q", got)
	}
	if got := s.Mask("secretvalue99hunter2secret"); got != "***" {
		t.Errorf("touching: got %q", got)
	}
}

// A multi-line secret is masked line by line (output is printed a line at a
// time), and so are its case forms, non-ASCII ones included.
func TestMultiLineAndCase(t *testing.T) {
	var s Set
	pem := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----\n"
	s.Add(pem, "пароль-секрет")
	for _, line := range strings.Split(strings.TrimSpace(pem), "\n") {
		if got := s.Mask("| " + line); got != "| ***" {
			t.Errorf("line %q masked as %q", line, got)
		}
	}
	for _, form := range []string{"ПАРОЛЬ-СЕКРЕТ", "Пароль-Секрет", "MIIEVQIBADANBGKQHKIG9W0B"} {
		if got := s.Mask(form); got != "***" {
			t.Errorf("%q masked as %q", form, got)
		}
	}
}

// Alt replaces secrets, their forms and derived parts by stand-ins, the
// longest first, keeping what is not secret; AltValue does it in a tree.
func TestAlt(t *testing.T) {
	var s Set
	s.Add("hunter2secret")
	s.AddDerived("token=hunter2secret", "0123456789abcdef")
	alt := s.Alt("a token=hunter2secret b HUNTER2SECRET c 0123456789abcdef", 0)
	st := standin("hunter2secret", 0)
	if !strings.HasPrefix(alt, "a token="+st+" b "+strings.ToUpper(st)+" c ") || strings.Contains(alt, "0123456789abcdef") {
		t.Errorf("got %q (stand-in %q)", alt, st)
	}
	tree := s.AltValue(map[string]any{"k": []any{"hunter2secret", 3}}, 1).(map[string]any)
	if tree["k"].([]any)[0] != standin("hunter2secret", 1) || tree["k"].([]any)[1] != 3 {
		t.Errorf("tree: %#v", tree)
	}
}

// Cuts tells a piece of a secret from the whole one (in any case, with its
// punctuation changed) in stand-in renderings.
func TestCuts(t *testing.T) {
	var s Set
	s.Add("hunter-2secret")
	all := [Families]bool{true, true}
	cuts := func(fn func(string) string) bool {
		var alts [Families]string
		for f := range Families {
			alts[f] = fn(standin("hunter-2secret", f))
		}
		return s.Cuts(fn("hunter-2secret"), alts, all)
	}
	for name, fn := range map[string]func(string) string{
		"trunc":          func(v string) string { return v[:5] },
		"substr":         func(v string) string { return "x" + v[3:9] + "y" },
		"split index":    func(v string) string { return strings.Split(v, "-")[1] },
		"newlines":       func(v string) string { return v[:3] + "\n" + v[3:6] + "\n" + v[6:] },
		"whole and part": func(v string) string { return v + " " + v[:4] },
	} {
		if !cuts(fn) {
			t.Errorf("%s: not a cut", name)
		}
	}
	for name, fn := range map[string]func(string) string{
		"whole":       func(v string) string { return "echo " + v },
		"upper":       strings.ToUpper,
		"no dash":     func(v string) string { return strings.ReplaceAll(v, "-", "") },
		"quoted":      func(v string) string { return `"` + v + `"` },
		"nothing":     func(string) string { return "abc" },
		"short piece": func(v string) string { return v[:2] },
	} {
		if cuts(fn) {
			t.Errorf("%s: taken for a cut", name)
		}
	}
	for v, want := range map[string]bool{"hunt": true, "xx2SECRyy": true, "hunter-2secret": false, "hun": false, "other": false} {
		if got := s.CutsReal(v); got != want {
			t.Errorf("CutsReal(%q) = %v", v, got)
		}
	}
}

// A leaf (a short value cut from a secret for an env var) is masked where a
// parameter is exactly it, not in running text.
func TestLeaf(t *testing.T) {
	var s Set
	s.AddLeaf("hun")
	got := s.Value(map[string]any{"env": map[string]any{"A": "hun"}, "x": "hunting"}).(map[string]any)
	if got["env"].(map[string]any)["A"] != Mask || got["x"] != "hunting" {
		t.Errorf("got %#v", got)
	}
}

// Cuts finds a piece in the real rendering that a stand-in rendering
// confirms at the same place, even where the template kept the stand-ins
// whole (a split on a letter they lack); letters the template wrote, a
// hash that spells some by chance and a short word are no piece.
func TestCutsReal(t *testing.T) {
	var s Set
	s.Add("hunter2-Secret", "3fa9c0d1e2b4a7f6")
	all := [Families]bool{true, true}
	st := func(v string) [Families]string { return [Families]string{standin(v, 0), standin(v, 1)} }
	pw, tok := st("hunter2-Secret"), st("3fa9c0d1e2b4a7f6")
	digest := "0000003fa9000000000000000000000000000000000000000000000000000000"
	for _, c := range []struct {
		name string
		real string
		alts [Families]string
		ok   [Families]bool
		want bool
	}{
		{"split on a letter the stand-ins lack", "hunt", pw, all, true},
		{"piece after the whole", "hunter2-Secret hunt", [Families]string{pw[0] + " " + pw[0][:4], pw[1]}, all, true},
		{"letters the template wrote", "hunter hunter2-Secret", [Families]string{"hunter " + pw[0], "hunter " + pw[1]}, all, false},
		{"hash next to the token", "3fa9c0d1e2b4a7f6 " + digest, [Families]string{tok[0] + " " + strings.Repeat("1", 64), tok[1] + " " + strings.Repeat("2", 64)}, all, false},
		{"short word", "Hunter2-Secret: the end", [Families]string{title.String(pw[0]) + ": the end", title.String(pw[1]) + ": the end"}, all, false},
		{"a piece too short to mask, unconfirmed (shuffled)", "nhunt", [Families]string{"gjkpm", "zsqwr"}, all, true},
		{"no stand-in rendered, piece", "unter", [Families]string{}, [Families]bool{}, true},
		{"no stand-in rendered, whole", "HUNTER2SECRET", [Families]string{}, [Families]bool{}, false},
	} {
		if got := s.Cuts(c.real, c.alts, c.ok); got != c.want {
			t.Errorf("%s: Cuts = %v", c.name, got)
		}
	}
}
