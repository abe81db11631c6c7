package tmpl_test

import (
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/tmpl"
)

// TestYAMLInjection renders manifests with hostile values: pasted raw, a
// value that carries structure is refused; quoted, it stays one value.
func TestYAMLInjection(t *testing.T) {
	data := map[string]any{
		"vars": map[string]any{
			"inject":  "x\n  privileged: true",
			"item":    "a\n- SYS_ADMIN",
			"comment": "#nothing",
			"colon":   "a: b",
			"plain":   "nginx:1.27",
			"caps":    []any{"CHOWN", "SETUID"},
		},
		"tasks": map[string]any{"build": map[string]any{"stdout": "digest: sha256:abc\nmore"}},
	}
	tests := []struct {
		name, manifest, wantErr string
	}{
		{"raw newline injects a key", "securityContext:\n  runAsUser: {{ .vars.inject }}\n", ".vars.inject"},
		{"raw newline injects a list item", "add:\n- {{ .vars.item }}\n", ".vars.item"},
		{"raw comment swallows the value", "image: {{ .vars.comment }}\n", ".vars.comment"},
		{"task output injects", "note: {{ .tasks.build.stdout }}\n", ".tasks.build.stdout"},
		{"quoted newline is one value", "securityContext:\n  note: {{ .vars.inject | quote }}\n", ""},
		{"toJson list keeps its items", "add: {{ .vars.caps | toJson }}\n", ""},
		{"quoted comment", "image: {{ .vars.comment | quote }}\n", ""},
		{"ordinary value", "image: {{ .vars.plain }}\n", ""},
		{"colon value quoted", "x: {{ .vars.colon | toJson }}\n", ""},
		{"unused risky values", "kind: ConfigMap\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tmpl.Render("m", tc.manifest, data)
			if err != nil {
				t.Fatal(err)
			}
			err = tmpl.CheckYAMLStructure(out, data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused a safe manifest:\n%s\n%v", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "quote") {
				t.Fatalf("rendered:\n%s\nerr = %v, want mention of %s", out, err, tc.wantErr)
			}
		})
	}
}
