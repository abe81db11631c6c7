package load_test

import (
	"strings"
	"testing"
)

func TestLabels(t *testing.T) {
	l := newLoader(t)
	const head = "apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: p\n  labels:\n"
	const tasks = "tasks:\n  - name: a\n    run: {command: [\"true\"]}\n"
	p, err := l.LoadBytes("p.yaml", []byte(head+"    team: payments\n    example.com/tier: web\n"+tasks))
	if err != nil {
		t.Fatal(err)
	}
	if p.Labels["team"] != "payments" || p.Labels["example.com/tier"] != "web" {
		t.Errorf("labels = %v", p.Labels)
	}
	_, err = l.LoadBytes("p.yaml", []byte(head+"    \"bad key!\": x\n    tier: \"-no\"\n"+tasks))
	if err == nil {
		t.Fatal("bad labels accepted")
	}
	for _, want := range []string{"p.yaml:6:5: metadata.labels.bad key!", "p.yaml:7:11: metadata.labels.tier"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
