package tmpl

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// CheckYAMLStructure guards manifests rendered as text: a value from the
// template data (a var, a task output) that could carry YAML structure —
// a newline, ": ", " #", a leading indicator — and appears verbatim in the
// rendered document must lie inside one scalar of it. When it does not, the
// value was pasted where it changed the document's structure (injected keys,
// list items, or text turned into a comment), and the manifest is refused:
// quote it in the template (`| quote`, `| toJson`).
func CheckYAMLStructure(rendered string, data map[string]any) error {
	var risky []string
	for _, root := range []string{"vars", "tasks"} {
		collectRisky(data[root], root, &risky)
	}
	if len(risky) == 0 {
		return nil
	}
	var scalars []string
	var parseErr error
	dec := yaml.NewDecoder(strings.NewReader(rendered))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Not YAML. If a risky value was pasted raw it is the likely
			// cause; otherwise the apply reports the syntax error itself.
			scalars = nil
			parseErr = err
			break
		}
		collectScalars(&n, &scalars)
	}
	var bad []string
	for _, entry := range risky {
		name, value, _ := strings.Cut(entry, "\x00")
		if !strings.Contains(rendered, value) {
			continue // not pasted verbatim (quoted, encoded, or unused)
		}
		inside := false
		for _, s := range scalars {
			if strings.Contains(s, value) {
				inside = true
				break
			}
		}
		if !inside {
			bad = append(bad, "."+name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	msg := fmt.Sprintf("the value of %s changes the manifest's YAML structure where the template inserts it (it holds newlines, \": \", \"#\" or YAML indicators); quote it in the template, e.g. {{ %s | quote }} or {{ %s | toJson }}", strings.Join(bad, ", "), bad[0], bad[0])
	if parseErr != nil {
		msg += " (the rendered manifest is not valid YAML: " + parseErr.Error() + ")"
	}
	return errors.New(msg)
}

// collectRisky lists "path\x00value" for string leaves that could carry structure.
func collectRisky(v any, path string, out *[]string) {
	switch x := v.(type) {
	case string:
		if riskyYAML(x) {
			*out = append(*out, path+"\x00"+x)
		}
	case []any:
		for i, item := range x {
			collectRisky(item, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case map[string]any:
		for k, item := range x {
			collectRisky(item, path+"."+k, out)
		}
	case map[string]map[string]any:
		for k, item := range x {
			collectRisky(map[string]any(item), path+"."+k, out)
		}
	}
}

func riskyYAML(s string) bool {
	if len(s) < 2 {
		return false
	}
	if strings.ContainsAny(s, "\n\r") || strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return true
	}
	return strings.ContainsRune("-?:,[]{}#&*!|>'\"%@`", rune(s[0]))
}

func collectScalars(n *yaml.Node, out *[]string) {
	if n.Kind == yaml.ScalarNode {
		*out = append(*out, n.Value)
		return
	}
	for _, c := range n.Content {
		collectScalars(c, out)
	}
}
