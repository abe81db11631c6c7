// Package vars gives a run its vars: each var's default, or the value a
// values file or --set gives, checked against what the pipeline declares
// (type, enum, pattern, required, secret length). validate, plan and run all
// go through it, so that a value one of them refuses is refused by all.
package vars

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/valid"
)

// MinSecretLen is the shortest secret kbrun masks: a shorter one would mask
// common letters all over the output (and hide nothing worth hiding).
const MinSecretLen = 6

// Check reports whether value fits v. nil (a var without value) fits every
// var that is not required; required is checked where values are merged.
func Check(v *pipeline.Var, value any) error {
	if value == nil {
		return nil
	}
	if v.Secret {
		return hide(check(v, value), value)
	}
	return check(v, value)
}

// hide keeps a secret value out of a message about it: it is shown as ***,
// however it was quoted.
func hide(err error, value any) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var texts []string
	collect(value, &texts)
	sort.Slice(texts, func(i, j int) bool { return len(texts[i]) > len(texts[j]) })
	for _, t := range texts {
		for _, form := range []string{strconv.Quote(t), show(t), t} {
			// A short value is only hidden quoted: "got 3" must stay.
			if form != "" && (form != t || len(t) >= MinSecretLen) {
				msg = strings.ReplaceAll(msg, form, "***")
			}
		}
	}
	return errors.New(msg)
}

func collect(v any, out *[]string) {
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			collect(item, out)
		}
	case map[string]any:
		for _, item := range x {
			collect(item, out)
		}
	default:
		*out = append(*out, fmt.Sprint(x))
	}
}

func check(v *pipeline.Var, value any) error {
	if err := checkType(v.Type, value); err != nil {
		return err
	}
	if len(v.Enum) > 0 && !inEnum(v.Enum, value) {
		return fmt.Errorf("%s is not one of the allowed values: %s", show(value), showList(v.Enum))
	}
	if v.Pattern != "" {
		s, ok := value.(string)
		if !ok {
			return fmt.Errorf("pattern applies to strings, got %s", show(value))
		}
		re, err := Pattern(v.Pattern)
		if err != nil {
			return err
		}
		if !re.MatchString(s) {
			return fmt.Errorf("%q does not match the pattern %s", s, v.Pattern)
		}
	}
	if v.Secret {
		// Without its surrounding white space too: it is masked in that
		// form as well (secret.Set.Add).
		s := fmt.Sprint(value)
		if t := strings.TrimSpace(s); s != "" && CaseLen(t) < MinSecretLen {
			got := fmt.Sprint(len(t))
			if t != s {
				got += " without the surrounding white space"
			}
			if n := CaseLen(t); n < len(t) {
				got += fmt.Sprintf(", %d once its case is changed", n)
			}
			return fmt.Errorf("a secret must be at least %d characters long to be masked safely (got %s)", MinSecretLen, got)
		}
		return shortLine(s)
	}
	return nil
}

// shortLine refuses a multi-line secret with a line too short to mask:
// output is masked a line at a time, as it is printed.
func shortLine(s string) error {
	if !strings.Contains(strings.TrimSpace(s), "\n") {
		return nil
	}
	for i, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && CaseLen(t) < MinSecretLen {
			return fmt.Errorf("line %d of the secret is %d characters long: a multi-line secret is masked line by line, so each of its lines must be at least %d characters long (give such a file base64-encoded, and b64dec it where it is used)", i+1, len(t), MinSecretLen)
		}
	}
	return nil
}

// CaseLen is the length in bytes of the shortest string a change of case
// makes of s (upper, lower, swapcase: İ lowers to i): a secret is masked
// in those forms too, so each must be long enough to mask.
func CaseLen(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r == utf8.RuneError {
			n += size // not UTF-8: no case to change
			continue
		}
		n += min(size, utf8.RuneLen(unicode.ToLower(r)), utf8.RuneLen(unicode.ToUpper(r)), utf8.RuneLen(unicode.ToTitle(r)))
	}
	return n
}

// Pattern compiles a var's pattern, anchored at both ends.
func Pattern(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a regular expression: %v", p, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func checkType(t pipeline.VarType, value any) error {
	ok := true
	switch t {
	case "":
	case pipeline.TypeString:
		_, ok = value.(string)
	case pipeline.TypeInt:
		_, ok = value.(int64)
	case pipeline.TypeNumber:
		switch x := value.(type) {
		case int64:
		case float64:
			if err := valid.Finite(x); err != nil {
				return err
			}
		default:
			ok = false
		}
	case pipeline.TypeBool:
		_, ok = value.(bool)
	case pipeline.TypeDuration:
		s, isStr := value.(string)
		if !isStr {
			ok = false
			break
		}
		if _, err := Duration(s); err != nil {
			return err
		}
	case pipeline.TypeList:
		_, ok = value.([]any)
	case pipeline.TypeMap:
		_, ok = value.(map[string]any)
	default:
		return fmt.Errorf("unknown type %q", t)
	}
	if !ok {
		return fmt.Errorf("want %s, got %s", article(t), describe(value))
	}
	return nil
}

// Duration parses a duration value: a Go duration, not negative.
func Duration(s string) (time.Duration, error) { return valid.Duration(s) }

// FromText converts text (a --set value, or a templated default once
// rendered) to a value of v's type.
func FromText(v *pipeline.Var, text string) (any, error) {
	switch v.Type {
	case "", pipeline.TypeString, pipeline.TypeDuration:
		return text, nil
	case pipeline.TypeInt:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", text)
		}
		return n, nil
	case pipeline.TypeNumber:
		t := strings.TrimSpace(text)
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, got %q", text)
		}
		return f, nil
	case pipeline.TypeBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("want a bool (true or false), got %q", text)
		}
		return b, nil
	case pipeline.TypeList:
		t := strings.TrimSpace(text)
		if strings.HasPrefix(t, "[") {
			return flow(t, pipeline.TypeList)
		}
		list := []any{}
		for _, item := range strings.Split(t, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		return list, nil
	case pipeline.TypeMap:
		return flow(strings.TrimSpace(text), pipeline.TypeMap)
	}
	return nil, fmt.Errorf("unknown type %q", v.Type)
}

func inEnum(enum []any, value any) bool {
	for _, e := range enum {
		if reflect.DeepEqual(e, value) || isNum(e) && isNum(value) && fmt.Sprint(e) == fmt.Sprint(value) {
			return true
		}
	}
	return false
}

func isNum(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

func article(t pipeline.VarType) string {
	switch t {
	case pipeline.TypeInt:
		return "an int"
	case pipeline.TypeList:
		return "a list"
	case pipeline.TypeMap:
		return "a map"
	}
	return "a " + string(t)
}

// describe names a value's type and shows it: `a list ([a b])`.
func describe(v any) string {
	t := pipeline.TypeOf(v)
	if t == "" {
		return show(v)
	}
	return article(t) + " (" + show(v) + ")"
}

// show quotes a value as a pipeline's author writes it: a string quoted,
// a list or map in JSON, never in Go's syntax (map[a:1]).
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	s := fmt.Sprint(v)
	switch v.(type) {
	case []any, map[string]any:
		if b, err := json.Marshal(v); err == nil {
			s = string(b)
		}
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func showList(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = show(v)
	}
	return strings.Join(parts, ", ")
}
