package trace

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// Bounds on what one output adds to a span: a command's whole stdout or a
// list of every pod would make spans that collectors drop.
const (
	maxValue = 512
	maxItems = 50
)

// outputAttrs are a task's outputs (masked already) as attributes: the
// objects it applied, checked or deleted as kbrun.objects and
// kbrun.deleted ("Kind/namespace/name", as delete says them), and every other output that is
// one value or a list of values as kbrun.output.NAME, cut to bounds.
// Outputs made of maps (a matrix's cells, a query's result) are left out.
func outputAttrs(outs map[string]any) []attribute.KeyValue {
	if len(outs) == 0 {
		return nil
	}
	names := make([]string, 0, len(outs))
	for k := range outs {
		names = append(names, k)
	}
	sort.Strings(names)
	var attrs []attribute.KeyValue
	for _, k := range names {
		v := outs[k]
		switch k {
		case "objects":
			if refs := objectRefs(v); len(refs) > 0 {
				attrs = append(attrs, attribute.StringSlice("kbrun.objects", refs))
			}
			continue
		case "deleted":
			if refs := strs(v); len(refs) > 0 {
				attrs = append(attrs, attribute.StringSlice("kbrun.deleted", refs))
			}
			continue
		}
		key := "kbrun.output." + k
		switch v := v.(type) {
		case string:
			attrs = append(attrs, attribute.String(key, cut(v)))
		case bool:
			attrs = append(attrs, attribute.Bool(key, v))
		case int:
			attrs = append(attrs, attribute.Int(key, v))
		case int64:
			attrs = append(attrs, attribute.Int64(key, v))
		case float64:
			attrs = append(attrs, attribute.Float64(key, v))
		case []any:
			if s := strs(v); s != nil {
				attrs = append(attrs, attribute.StringSlice(key, s))
			}
		}
	}
	return attrs
}

// objectRefs reads the objects output of apply, deploy and assert: maps
// with kind, namespace and name.
func objectRefs(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, o := range list {
		m, ok := o.(map[string]any)
		if !ok {
			continue
		}
		if len(out) == maxItems {
			out = append(out, fmt.Sprintf("… %d more", len(list)-maxItems))
			break
		}
		ref := fmt.Sprintf("%v/%v", m["kind"], m["name"])
		if ns, _ := m["namespace"].(string); ns != "" {
			ref = fmt.Sprintf("%v/%s/%v", m["kind"], ns, m["name"])
		}
		out = append(out, cut(ref))
	}
	return out
}

// strs is a list of scalars as strings, nil when it holds anything else.
func strs(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, min(len(list), maxItems+1))
	for i, x := range list {
		switch x.(type) {
		case map[string]any, []any:
			return nil
		}
		if i == maxItems {
			out = append(out, fmt.Sprintf("… %d more", len(list)-maxItems))
			break
		}
		out = append(out, cut(fmt.Sprint(x)))
	}
	return out
}

// cut shortens s to maxValue bytes, on a character boundary.
func cut(s string) string {
	if len(s) <= maxValue {
		return s
	}
	i := maxValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
