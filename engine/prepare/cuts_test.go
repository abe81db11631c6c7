package prepare

import (
	"errors"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/pipeline"

	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
)

// A group that caught part of a secret the task printed is dropped; a
// digest that happens to share four hex digits with a hex token is not,
// since the task's streams never showed the token.
func TestDropCuts(t *testing.T) {
	set := &secret.Set{}
	set.Add("3fa9c0d1e2b4a7f6")
	digest := "sha256:0000003fa9000000000000000000000000000000000000000000000000000000"

	outs := task.Outputs{"stdout": "pushed " + digest, "digest": digest}
	if cut := DropCuts(set, outs); len(cut) != 0 || outs["digest"] != digest {
		t.Errorf("a digest sharing 4 hex digits with the token was dropped: %v", cut)
	}

	outs = task.Outputs{"stdout": "token 3fa9c0d1e2b4a7f6", "part": "3fa9c"}
	if cut := DropCuts(set, outs); len(cut) != 1 || cut[0] != "part" || outs["part"] != nil {
		t.Errorf("a piece cut from the printed token was kept: %v %v", cut, outs)
	}
}

// A piece of a secret may go into a Secret's data (plans print the file
// with that data blanked), not anywhere else in a manifest.
func TestPiecesInSecretData(t *testing.T) {
	set := &secret.Set{}
	set.Add("Qz7vXk-9Jw3Tp")
	pp := New(Config{Pipeline: &pipeline.Pipeline{File: "f"}, Registry: task.NewRegistry(), Secrets: set})
	d := Data{Values: map[string]any{"vars": map[string]any{"pw": "Qz7vXk-9Jw3Tp"}}}
	for text, allowed := range map[string]bool{
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {u: '{{ trunc 5 .vars.pw }}', p: '{{ .vars.pw }}'}\n":      true,
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s, labels: {u: '{{ trunc 5 .vars.pw }}'}}\nstringData: {u: x}\n":           false,
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\ndata: {u: '{{ trunc 5 .vars.pw }}'}\n":                              false,
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {u: '{{ trunc 5 .vars.pw }}'}\n# {{ trunc 5 .vars.pw }}\n": false,
	} {
		_, _, err := pp.render(text, d)
		var cut *errCut
		if !errors.As(err, &cut) {
			t.Fatalf("%q: not a cut: %v", text, err)
		}
		shown, ok := pp.secretDataOnly(cut)
		if ok != allowed {
			t.Errorf("%q: allowed %v", text, ok)
		}
		if ok && (strings.Contains(shown, "Qz7v") || !strings.Contains(shown, "u: '***'")) {
			t.Errorf("%q: plans show %q", text, shown)
		}
	}
}
