package manifest

import (
	"strings"
	"testing"
)

// TestDecode: every object of every document, a List's items
// flattened, in the file's order, each with its document.
func TestDecode(t *testing.T) {
	ms, err := Decode("m.yaml", `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: s}
- apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata: {name: crd}
---
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Object.GetKind()+"/"+m.Object.GetName()+"@"+m.Source)
	}
	want := "ConfigMap/a@m.yaml#2 Secret/s@m.yaml#4 CustomResourceDefinition/crd@m.yaml#4 Namespace/ns@m.yaml#5"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := Decode("bad.yaml", "kind: ConfigMap\nmetadata: {name: a}\n"); err == nil || !strings.Contains(err.Error(), "bad.yaml:1:1: document 1: an object needs apiVersion and kind") {
		t.Fatalf("missing apiVersion: %v", err)
	}
	if _, err := Decode("bad.yaml", "apiVersion: v1\nkind: ConfigMap\n"); err == nil || !strings.Contains(err.Error(), "no metadata.name") {
		t.Fatalf("missing name: %v", err)
	}
}
