package apply

import "testing"

func TestParamsWhat(t *testing.T) {
	p := Params{Files: []string{"k8s/a.yaml", "k8s/dir"}, Manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"}
	if got := p.What(); got != "k8s/a.yaml, k8s/dir and an inline manifest of 2 documents" {
		t.Fatal(got)
	}
}
