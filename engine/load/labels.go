package load

import "github.com/kbrun/kbrun/engine/valid"

// labels reads metadata.labels, checking each key and value by the rules of
// Kubernetes labels: the selectors of -l are kubectl's, and a label they
// could never match would be a silent mistake.
func (c *checker) labels(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		val, ok := raw.(string)
		if !ok {
			continue // the schema reported it
		}
		path := []string{"metadata", "labels", k}
		if err := valid.LabelKey(k); err != nil {
			c.errAtKey(path, "%v", err)
		}
		if err := valid.LabelValue(val); err != nil {
			c.errAt(path, "%v", err)
		}
		out[k] = val
	}
	return out
}
