package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/valid"
)

var printer = message.NewPrinter(language.English)

// schemaErrors validates the tree against the pipeline schema and records
// one error per real problem, at the position of the offending key or value.
func (c *checker) schemaErrors(tree any) {
	c.tree = tree
	err := c.l.schema.Validate(tree)
	if err == nil {
		return
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		c.errAt(nil, "schema validation: %s", err)
		return
	}
	var leaves []*jsonschema.ValidationError
	c.collect(ve, &leaves)
	seen := map[string]bool{}
	for _, e := range leaves {
		for _, pe := range c.describe(e) {
			key := pe.Error()
			if !seen[key] {
				seen[key] = true
				c.errs.Add(pe)
			}
		}
	}
}

// collect gathers the errors worth showing. For oneOf/anyOf it keeps only
// the branches that match the value's type, so that a var written as a map
// with a typo reports the typo, not "not a string".
func (c *checker) collect(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		// "A task has exactly one type" is checked with a clearer message.
		if strings.HasSuffix(e.SchemaURL, "#/$defs/task") {
			return
		}
		// Alternatives of one field each get one line (see alternatives).
		if len(c.l.branchFields(e)) > 1 {
			*out = append(*out, e)
			return
		}
		if oo, ok := k.(*kind.OneOf); ok && oo.Subschemas != nil {
			*out = append(*out, e)
			return
		}
		var keep []*jsonschema.ValidationError
		for _, cause := range e.Causes {
			if !typeMismatchOnly(cause, e.InstanceLocation) {
				keep = append(keep, cause)
			}
		}
		if len(keep) == 0 {
			*out = append(*out, e)
			return
		}
		for _, cause := range keep {
			c.collect(cause, out)
		}
	case *kind.PropertyNames:
		// Its causes are located at the name as a value; report the key.
		*out = append(*out, e)
	default:
		if len(e.Causes) == 0 {
			*out = append(*out, e)
			return
		}
		for _, cause := range e.Causes {
			c.collect(cause, out)
		}
	}
}

// typeMismatchOnly reports whether every leaf of e is a type error at loc:
// the branch was for another type of value altogether.
func typeMismatchOnly(e *jsonschema.ValidationError, loc []string) bool {
	if len(e.Causes) == 0 {
		_, isType := e.ErrorKind.(*kind.Type)
		return isType && slices.Equal(e.InstanceLocation, loc)
	}
	for _, c := range e.Causes {
		if !typeMismatchOnly(c, loc) {
			return false
		}
	}
	return true
}

// describe turns one schema error into pipeline errors with positions and
// kubectl-like wording.
func (c *checker) describe(e *jsonschema.ValidationError) []*pipeline.Error {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []*pipeline.Error
		props := append([]string(nil), k.Properties...)
		sort.Strings(props)
		for _, prop := range props {
			path := append(append([]string(nil), loc...), prop)
			msg := fmt.Sprintf("unknown field %q", prop)
			if s := valid.Closest(prop, c.l.fields.allowed(e.SchemaURL), true); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			out = append(out, c.newErr(c.sm.Key(path), path, msg))
		}
		return out
	case *kind.Required:
		var out []*pipeline.Error
		for _, m := range k.Missing {
			out = append(out, c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("missing required field %q", m)))
		}
		return out
	case *kind.OneOf, *kind.AnyOf:
		if msg := c.alternatives(e); msg != "" {
			return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, msg)}
		}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.InvalidJsonValue:
		if len(loc) > 0 && (loc[0] == "vars" || loc[0] == "params") {
			return nil // the var's own check says it, naming the var
		}
		msg := "is not a string, a number, a boolean, a list or a map"
		if f, ok := k.Value.(float64); ok {
			msg = valid.Finite(f).Error()
		}
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, msg)}
	case *kind.OneOf:
		if k.Subschemas != nil {
			return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, "value matches more than one allowed form")}
		}
		if msg := wantedTypes(e); msg != "" {
			return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, msg)}
		}
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, "value has none of the allowed types")}
	case *kind.AnyOf:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, "value has none of the allowed forms")}
	case *kind.Pattern:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, patternMessage(loc, k))}
	case *kind.PropertyNames:
		// The validator's location for this kind is not stable: find the
		// map that holds the name.
		path := findKey(c.tree, loc, k.Property)
		if len(path) > 1 && path[len(path)-2] == "env" {
			// An environment variable's name, checked as the task does.
			if err := valid.EnvName(k.Property); err != nil {
				return []*pipeline.Error{c.newErr(c.sm.Key(path), path, err.Error())}
			}
		}
		return []*pipeline.Error{c.newErr(c.sm.Key(path), path, fmt.Sprintf("%q is not a valid name: use letters, digits and _ and start with a letter, since templates refer to it as .vars.NAME, .params.NAME or .matrix.NAME", k.Property))}
	case *kind.MinItems:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("must have at least %d item(s), has %d", k.Want, k.Got))}
	case *kind.MinLength:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("must be at least %d character(s) long", k.Want))}
	case *kind.MaxLength:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("is %d characters long; at most %d are allowed", k.Got, k.Want))}
	case *kind.Minimum:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("must be at least %s, got %s", k.Want.RatString(), k.Got.RatString()))}
	case *kind.Maximum:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, fmt.Sprintf("must be at most %s, got %s", k.Want.RatString(), k.Got.RatString()))}
	default:
		return []*pipeline.Error{c.newErr(c.sm.Value(loc), loc, e.ErrorKind.LocalizedString(printer))}
	}
}

// wantedTypes says what a oneOf whose every branch refused the value's
// type wanted: "got number, want integer or string" (a port of 80.5).
func wantedTypes(e *jsonschema.ValidationError) string {
	var got string
	var want []string
	for _, cause := range e.Causes {
		t, ok := cause.ErrorKind.(*kind.Type)
		if !ok {
			return ""
		}
		got = t.Got
		for _, w := range t.Want {
			if !slices.Contains(want, w) {
				want = append(want, w)
			}
		}
	}
	if got == "" {
		return ""
	}
	return fmt.Sprintf("got %s, want %s", got, strings.Join(want, " or "))
}

// alternatives turns a oneOf/anyOf whose branches each require one field
// ("pod" or "selector"; "files" or "manifest") into one line that says
// what to do, instead of a "missing required field" per branch.
func (c *checker) alternatives(e *jsonschema.ValidationError) string {
	names := c.l.branchFields(e)
	if len(names) < 2 {
		return ""
	}
	obj, _ := valueAt(c.tree, e.InstanceLocation).(map[string]any)
	var given []string
	for _, n := range names {
		if _, ok := obj[n]; ok {
			given = append(given, n)
		}
	}
	list := func(words []string, conj string) string {
		if len(words) == 2 {
			return words[0] + " " + conj + " " + words[1]
		}
		return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
	}
	if _, one := e.ErrorKind.(*kind.OneOf); one {
		if len(given) > 1 {
			return fmt.Sprintf("give only one of %s (found %s)", list(names, "and"), list(given, "and"))
		}
		return "give exactly one of " + list(names, "or")
	}
	return "give at least one of " + list(names, "or")
}

// branchFields returns, for a oneOf/anyOf error, the one field each branch
// of the schema requires; nil when a branch is anything else.
func (l *Loader) branchFields(e *jsonschema.ValidationError) []string {
	key := "anyOf"
	if _, one := e.ErrorKind.(*kind.OneOf); one {
		key = "oneOf"
	}
	_, ptr, ok := strings.Cut(e.SchemaURL, "#")
	if !ok {
		return nil
	}
	var doc any
	if err := json.Unmarshal(l.schemaJSON, &doc); err != nil {
		return nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := doc.(type) {
		case map[string]any:
			doc = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i >= len(x) {
				return nil
			}
			doc = x[i]
		default:
			return nil
		}
	}
	m, _ := doc.(map[string]any)
	branches, _ := m[key].([]any)
	var names []string
	for _, b := range branches {
		m, _ := b.(map[string]any)
		req, _ := m["required"].([]any)
		if len(req) != 1 {
			return nil
		}
		for k := range m {
			if k != "required" && k != "not" {
				return nil
			}
		}
		name, _ := req[0].(string)
		names = append(names, name)
	}
	return names
}

func valueAt(tree any, path []string) any {
	for _, tok := range path {
		switch x := tree.(type) {
		case map[string]any:
			tree = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i >= len(x) {
				return nil
			}
			tree = x[i]
		default:
			return nil
		}
	}
	return tree
}

// patternMessage explains the patterns the schema uses in words.
func patternMessage(loc []string, k *kind.Pattern) string {
	switch {
	case strings.Contains(k.Want, "ns|us|µs|ms|s|m|h"):
		if d, err := time.ParseDuration(k.Got); err == nil && d < 0 && len(loc) > 0 {
			return fmt.Sprintf("%q is a negative duration: %s must not be negative", k.Got, loc[len(loc)-1])
		}
		return fmt.Sprintf("%q is not a duration (use e.g. 30s, 5m, 1h30m)", k.Got)
	case k.Want == "^[A-Za-z_][A-Za-z0-9_]*$":
		return fmt.Sprintf("%q is not a valid name: use letters, digits and _ and start with a letter, since templates refer to it as .tasks.NAME or .vars.NAME", k.Got)
	case len(loc) > 0 && loc[len(loc)-1] == "name":
		return fmt.Sprintf("%q is not a valid name: use lower-case letters, digits and -, starting and ending with a letter or digit", k.Got)
	}
	return k.LocalizedString(printer)
}

// findKey returns the path of key in the map at loc, or else in the first
// map of the tree that holds it.
func findKey(tree any, loc []string, key string) []string {
	if m, ok := valueAt(tree, loc).(map[string]any); ok {
		if _, has := m[key]; has {
			return append(append([]string(nil), loc...), key)
		}
	}
	var walk func(v any, path []string) []string
	walk = func(v any, path []string) []string {
		switch x := v.(type) {
		case map[string]any:
			if _, has := x[key]; has {
				return append(path, key)
			}
			names := make([]string, 0, len(x))
			for n := range x {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if p := walk(x[n], append(append([]string(nil), path...), n)); p != nil {
					return p
				}
			}
		case []any:
			for i, item := range x {
				if p := walk(item, append(append([]string(nil), path...), strconv.Itoa(i))); p != nil {
					return p
				}
			}
		}
		return nil
	}
	if p := walk(tree, nil); p != nil {
		return p
	}
	return loc
}
