package prepare

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
)

// steps are sprig (and text/template) functions applied to $v, the value
// so far; %d is a small number, %c a letter, both from the fuzzer.
var steps = []string{
	"upper $v", "lower $v", "title $v", "untitle $v", "swapcase $v", "shuffle $v",
	"b64enc $v", "b64dec $v", "b32enc $v", "b32dec $v", "sha1sum $v", "sha256sum $v", "adler32sum $v",
	"quote $v", "squote $v", "toJson $v", "toPrettyJson (list $v)", "urlquery $v", "html $v", "js $v",
	"nospace $v", "snakecase $v", "camelcase $v", "kebabcase $v", "initials $v", "trim $v",
	`trimAll "%c" $v`, `trimPrefix "%c" $v`, `trimSuffix "%c" $v`, "trunc %d $v", "substr 1 %d $v",
	"abbrev %d $v", "wrap %d $v", "indent %d $v", "nindent %d $v", `replace "%c" "-" $v`,
	`regexReplaceAll "[0-9]" $v "#"`, `regexReplaceAll "(.{%d})" $v "${1}\n"`, `regexFind "[a-z]{%d}" $v`,
	`splitList "-" $v | join "+"`, `index (splitList "%c" $v) 0`, `printf "%%s:%%s" $v $v`,
	`printf "%%q" $v`, `cat $v "x"`, "repeat 2 $v", `list $v "a" | toJson`, `dict "k" $v | toJson`,
	`print (len $v)`, `slice $v 0 %d`, `mustRegexReplaceAllLiteral "[%c]" $v ""`, "sha256sum $v | upper",
}

// FuzzSprigOverSecret composes sprig functions over a secret: whatever a
// template makes of it is either refused (it cuts the secret) or shows no
// piece of the secret of 4 letters once masked, line by line as output
// is printed; a template error shows none either.
func FuzzSprigOverSecret(f *testing.F) {
	f.Add("Qz7vXk-9Jw3Tp", []byte{0, 3})
	f.Add("пароль-секрет", []byte{0, 0, 2, 1})
	f.Add("s3cr\"et/&pa55 wörd", []byte{15, 0, 6, 0})
	f.Add("hunter2-Secret", []byte{29, 5})
	f.Add("hunter2-Secret", []byte{37, 3, 1, 0})
	f.Add("abc-DEF-123-ghi", []byte{39, 0, 2, 0, 44, 1})
	f.Add("hunter2-Secret", []byte{40, 4}) // split on a letter the stand-ins lack
	f.Fuzz(func(t *testing.T, pw string, seq []byte) {
		if !utf8.ValidString(pw) || strings.ContainsAny(pw, "\r\n\x00") || vars.CaseLen(strings.TrimSpace(pw)) < secret.MinLen || len(pw) > 64 {
			return // refused before any template sees it
		}
		text := "{{ $v := .vars.pw }}"
		for i := 0; i+1 < len(seq) && i < 8; i += 2 {
			step := steps[int(seq[i])%len(steps)]
			step = strings.ReplaceAll(step, "%d", fmt.Sprint(1+int(seq[i+1])%12))
			step = strings.ReplaceAll(step, "%c", string(rune('a'+seq[i+1]%26)))
			step = strings.ReplaceAll(step, "%%", "%")
			text += "{{ $v = " + step + " }}"
		}
		text += "{{ $v }}"
		set := &secret.Set{}
		set.Add(pw)
		pp := New(Config{Pipeline: &pipeline.Pipeline{File: "f"}, Registry: task.NewRegistry(), Secrets: set})
		d := Data{Values: map[string]any{"vars": map[string]any{"pw": pw}}}
		out, _, err := pp.render(text, d)
		var cut *errCut
		switch {
		case errors.As(err, &cut):
			return
		case err != nil:
			out = err.Error()
		}
		other, _ := pp.alt(text, d, 0)
		for _, line := range strings.Split(out, "\n") {
			if piece := pieceOf(set.Mask(line), pw, other); piece != "" {
				t.Fatalf("%s with %q shows %q: %q", text, pw, piece, set.Mask(line))
			}
		}
	})
}

// pieceOf returns a piece of pw (4 runes, 3 of them letters or digits, case
// aside) that masked shows, unless the rendering with another secret
// (other) shows it too: then the template wrote it, not the secret.
func pieceOf(masked, pw, other string) string {
	masked, other = strings.ToLower(masked), strings.ToLower(other)
	runes := []rune(strings.ToLower(pw))
	for i := 0; i+4 <= len(runes); i++ {
		piece := string(runes[i : i+4])
		n := 0
		for _, r := range piece {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				n++
			}
		}
		if n >= 3 && strings.Contains(masked, piece) && !strings.Contains(other, piece) {
			return piece
		}
	}
	return ""
}
