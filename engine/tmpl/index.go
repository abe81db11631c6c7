package tmpl

import (
	"fmt"
	"reflect"
)

// index replaces text/template's builtin: the builtin returns the zero
// value for a key a map does not have, so {{ index .vars "typo" }} renders
// "<no value>" where {{ .vars.typo }} is an error. kbrun's index is as
// strict as a field: a missing key, an index out of range or indexing a
// null is an error (sprig's get, dig and hasKey read optional keys).
func index(item any, keys ...any) (any, error) {
	v := item
	for _, k := range keys {
		next, err := indexOne(v, k)
		if err != nil {
			return nil, err
		}
		v = next
	}
	return v, nil
}

func indexOne(v, key any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("cannot look up %s in a null value", shownKey(key))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		s, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("a map's keys are strings, not %s", shownKey(key))
		}
		e := rv.MapIndex(reflect.ValueOf(s).Convert(rv.Type().Key()))
		if !e.IsValid() {
			return nil, fmt.Errorf("map has no entry for key %q (hasKey or get read a key that may be missing)", s)
		}
		return e.Interface(), nil
	case reflect.Slice, reflect.Array:
		i, ok := intKey(key)
		if !ok {
			return nil, fmt.Errorf("a list is indexed by a whole number, not %s", shownKey(key))
		}
		if i < 0 || i >= rv.Len() {
			return nil, fmt.Errorf("%d is out of range: the list has %d items", i, rv.Len())
		}
		return rv.Index(i).Interface(), nil
	}
	return nil, fmt.Errorf("cannot look up %s in %s, which is neither a map nor a list", shownKey(key), shownKind(v))
}

func intKey(k any) (int, bool) {
	switch x := k.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	}
	return 0, false
}

func shownKey(k any) string {
	if s, ok := k.(string); ok {
		return fmt.Sprintf("key %q", s)
	}
	return fmt.Sprintf("%v", k)
}

// shownKind names a value's kind in the words of YAML, not Go's.
func shownKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64:
		return "a number"
	}
	return "a value"
}
