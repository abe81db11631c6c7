package apply

import (
	"strings"
	"testing"

	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// TestOrder: CRDs first, then Namespaces, then the rest as given.
func TestOrder(t *testing.T) {
	ms, err := manifest.Decode("m.yaml", `# leading comment
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
	for _, m := range Order(ms) {
		got = append(got, m.Object.GetKind()+"/"+m.Object.GetName()+"@"+m.Source)
	}
	want := "CustomResourceDefinition/crd@m.yaml#4 Namespace/ns@m.yaml#5 ConfigMap/a@m.yaml#2 Secret/s@m.yaml#4"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}
