package report

import (
	"sigs.k8s.io/yaml"
)

// ParamsYAML renders rendered parameters for plans, as YAML with sorted keys.
func ParamsYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "<unprintable: " + err.Error() + ">"
	}
	return string(b)
}
