package tmpl

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Describe names a value the way a pipeline's author sees it (a map, a
// list, null), never by its Go type.
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the text %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map:
		return "a map"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return fmt.Sprintf("the number %v", v)
	}
	return "a value of another kind"
}

// goTypes are the Go type names text/template and sprig put in their
// messages, and what a pipeline's author calls them (longest first: one
// name holds another).
var goTypes = strings.NewReplacer(
	"map[string]interface {}", "map",
	"[]interface {}", "list",
	"interface {}", "value",
	"float64", "number",
	"int64", "number",
	"<nil>", "null",
)

var (
	cantEvaluate = regexp.MustCompile(`can't evaluate field (\S+) in type \S.*$`)
	nilPointer   = regexp.MustCompile(`(index|slice) of (untyped )?nil( pointer)?`)
	lenOf        = regexp.MustCompile(`len of (type \S+|nil pointer)`)
)

// plain rewrites the Go internals of a text/template or sprig message in
// the pipeline's words.
func plain(msg string) string {
	msg = cantEvaluate.ReplaceAllString(msg, `cannot read field "$1": the value it is read from is not a map`)
	msg = nilPointer.ReplaceAllString(msg, "$1 of null")
	msg = lenOf.ReplaceAllString(msg, "only a text, a list or a map has a length")
	msg = strings.ReplaceAll(msg, "<no value>", "null")
	return goTypes.Replace(msg)
}

// printf is text/template's printf, refusing a format whose verbs do not
// fit its arguments: fmt would put "%!d(string=x)" in the value instead.
func printf(format string, args ...any) (string, error) {
	out := fmt.Sprintf(format, args...)
	if strings.Contains(out, "%!") && !strings.Contains(format, "%!") && !strings.Contains(fmt.Sprint(args...), "%!") {
		return "", fmt.Errorf("printf: the format %q does not fit its %d argument(s): each verb takes one argument of its kind (%%s text, %%d a whole number, %%v anything)", format, len(args))
	}
	return out, nil
}
