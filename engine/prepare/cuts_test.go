package prepare

import (
	"testing"

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
