package prepare

import (
	"errors"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kbrun/kbrun/engine/secret"
)

// secretDataOnly reports whether the pieces of a secret in a rendered
// manifest file are all in the data or stringData values of Secret
// objects, and returns the text plans print instead (those values
// blanked). kbrun prints a manifest only in plans (--show-manifests):
// describe lines name objects, a dry run names changed fields, never
// values. So, like env and stdin, a Secret's data may take a piece.
func (pp *Preparer) secretDataOnly(cut *errCut) (string, bool) {
	shown, ok := blankSecretData(cut.out)
	if !ok || shown == "" {
		return "", false
	}
	var alts [secret.Families]string
	var rendered [secret.Families]bool
	for f := range alts {
		if cut.ok[f] {
			alts[f], rendered[f] = blankSecretData(cut.alts[f])
		}
	}
	if pp.secrets.Cuts(shown, alts, rendered) {
		return "", false
	}
	return shown, true
}

// inlineManifest reports whether path is a task type's inline manifest
// (apply, deploy, delete: manifest).
func (pp *Preparer) inlineManifest(path []string) bool {
	n := len(path)
	if n < 2 || path[n-1] != "manifest" {
		return false
	}
	_, ok := pp.reg.Get(path[n-2])
	return ok
}

// forPlan returns a task's rendered params as plans show them: an inline
// manifest that holds pieces of a secret in a Secret's data with those
// values blanked (the action gets params itself).
func (pp *Preparer) forPlan(params any) any {
	m, ok := params.(map[string]any)
	if !ok {
		return params
	}
	text, _ := m["manifest"].(string)
	shown, ok := pp.shown.Load(text)
	if !ok {
		return params
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	out["manifest"] = shown
	return out
}

// blankSecretData returns YAML text (documents) with the values of data
// and stringData of every v1 Secret replaced by ***, as YAML again, and
// whether the text parsed.
func blankSecretData(text string) (string, bool) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", false
		}
		if len(doc.Content) == 1 {
			blankSecret(doc.Content[0])
		}
		if err := enc.Encode(&doc); err != nil {
			return "", false
		}
	}
	if err := enc.Close(); err != nil {
		return "", false
	}
	return b.String(), true
}

func blankSecret(obj *yaml.Node) {
	if obj.Kind != yaml.MappingNode || field(obj, "kind") == nil || field(obj, "kind").Value != "Secret" ||
		field(obj, "apiVersion") == nil || field(obj, "apiVersion").Value != "v1" {
		return
	}
	for _, key := range []string{"data", "stringData"} {
		if m := field(obj, key); m != nil && m.Kind == yaml.MappingNode {
			for i := 1; i < len(m.Content); i += 2 {
				m.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: secret.Mask}
			}
		}
	}
}

// field returns the value of key in a mapping node, or nil.
func field(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
