package load_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
)

// TestDiagnoseRead checks that a task's diagnose: stanza reaches the
// model as written, with the commands' default timeout.
func TestDiagnoseRead(t *testing.T) {
	p, err := newLoader(t).LoadBytes("d.yaml", []byte(`apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: d}
tasks:
  - name: a
    run: {command: [echo]}
    diagnose:
      resources:
        - {apiVersion: apps/v1, kind: Deployment, name: web, namespace: team}
        - {kind: ConfigMap, selector: app=web}
      commands:
        - {selector: app=web, container: app, command: [cat, /etc/app.conf], timeout: 3s}
        - {pod: web-1, command: [env]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &pipeline.Diagnose{
		Resources: []pipeline.DiagnoseResource{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "team"},
			{Kind: "ConfigMap", Selector: "app=web"},
		},
		Commands: []pipeline.DiagnoseCommand{
			{Selector: "app=web", Container: "app", Command: []string{"cat", "/etc/app.conf"}, Timeout: 3 * time.Second},
			{Pod: "web-1", Command: []string{"env"}, Timeout: pipeline.DefaultDiagnoseCommandTimeout},
		},
	}
	if got := p.Tasks[0].Diagnose; !reflect.DeepEqual(got, want) {
		t.Errorf("diagnose read as\n%+v\nwant\n%+v", got, want)
	}
}
