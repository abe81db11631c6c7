package report

import (
	"reflect"
	"testing"
	"time"
)

// A matrix of uses: each cell is one unit, its steps are not; their lines
// are the cell's.
func TestTallyCellsOfUses(t *testing.T) {
	at := time.Unix(0, 0)
	tl := newTally(2, []string{"parallel", "uses"})
	for _, e := range []Event{
		{Type: TaskStart, Index: "1", Task: "prep", TaskType: "run", Time: at},
		{Type: TaskEnd, Index: "1", Task: "prep", TaskType: "run", Status: StatusOK},
		{Type: TaskStart, Index: "2", Task: "cells", TaskType: "uses", Cells: 2},
		{Type: TaskStart, Index: "2.1", Task: "cells[a]", TaskType: "uses", Time: at.Add(time.Second)},
		{Type: TaskStart, Index: "2.1.1", Task: "build[a]", TaskType: "exec", Time: at.Add(2 * time.Second)},
		{Type: TaskStart, Index: "2.2", Task: "cells[b]", TaskType: "uses", Time: at.Add(3 * time.Second)},
	} {
		if e.Type == TaskStart {
			tl.start(e)
		} else {
			tl.end(e)
		}
	}
	tl.line("build[a]", "denied")
	if name, _ := tl.slowest(); name != "cells[a]" || len(tl.running) != 2 || tl.total != 4 {
		t.Errorf("slowest %q, running %d, total %d; want cells[a], 2, 4", name, len(tl.running), tl.total)
	}
	if tl.end(Event{Type: TaskEnd, Index: "2.1.1", Task: "build[a]", TaskType: "exec", Status: StatusFailed}) {
		t.Error("a cell's step counted as a unit")
	}
	tl.end(Event{Type: TaskEnd, Index: "2.1", Task: "cells[a]", TaskType: "uses", Status: StatusFailed})
	tl.end(Event{Type: TaskEnd, Index: "2", Task: "cells", TaskType: "uses", Status: StatusOK})
	if tl.done != 1 || tl.nFailed != 1 || !reflect.DeepEqual(tl.failed, []string{"2.1"}) || !reflect.DeepEqual(tl.lines["2.1"].lines, []string{"denied"}) {
		t.Errorf("done %d, failed %d %v, lines %+v", tl.done, tl.nFailed, tl.failed, tl.lines)
	}
}
