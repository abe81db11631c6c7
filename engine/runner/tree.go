package runner

import (
	"fmt"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
)

// kind is what a node of the plan runs.
type kind int

const (
	kindAction kind = iota // a task type's action
	kindGroup              // a parallel group: its children at once
	kindMatrix             // a matrix task: one cell per combination of its values
	kindUse                // a use of a library: its tasks in order
)

// node is one task of the plan tree. The tree is built once from the
// loaded pipeline (buildTree), the selection is decided once on it
// (selectTree), and one walker goes over it: to validate and plan it
// (stand-ins for outputs not known yet) and to run it. A node is never
// changed by a walk: the cells of a matrix are made by each walk from the
// values it knows (cells).
type node struct {
	// index numbers the node in plans, events and reports: "3", "3.1",
	// "F1" (finally).
	index string
	task  *pipeline.Task
	kind  kind
	// finally: the node is a finally task or under one.
	finally bool
	// selected: the node runs; why says why not.
	selected bool
	why      string
	// children are a parallel group's tasks or a use's (its library's
	// tasks, expanded). A matrix node's children are what each of its
	// cells runs: a group's children, a use's tasks.
	children []*node
}

// buildTree makes the nodes of the pipeline's tasks and finally tasks.
func buildTree(p *pipeline.Pipeline) (main, fin []*node) {
	return newNodes(p.Tasks, "", false), newNodes(p.Finally, "F", true)
}

func newNodes(ts []*pipeline.Task, prefix string, finally bool) []*node {
	out := make([]*node, len(ts))
	for i, t := range ts {
		idx := fmt.Sprintf("%s%d", prefix, i+1)
		n := &node{index: idx, task: t, kind: kindOf(t), finally: finally, selected: true}
		n.children = newNodes(t.Children, idx+".", finally)
		out[i] = n
	}
	return out
}

func kindOf(t *pipeline.Task) kind {
	switch {
	case len(t.Matrix) > 0:
		return kindMatrix
	case t.Type == pipeline.ParallelType:
		return kindGroup
	case t.Type == pipeline.UsesType:
		return kindUse
	}
	return kindAction
}

// top reports whether n is a task of tasks or finally itself, not one
// under a group, a use or a matrix.
func (n *node) top() bool { return !strings.Contains(n.index, ".") }

// cells makes the nodes of a matrix node's cells: cell i is numbered
// INDEX.i and runs the task under the cell's name with its values, and a
// copy of the node's children renamed for the cell, selected as they are
// (a child skipped with --skip is skipped in every cell).
func (n *node) cells(cells []prepare.Cell) []*node {
	out := make([]*node, len(cells))
	for i, c := range cells {
		out[i] = n.copyAs(cellTask(n.task, c), fmt.Sprintf("%s.%d", n.index, i+1))
	}
	return out
}

// copyAs copies n and its children for task t, whose children are n's
// tasks' children renamed (cellTask).
func (n *node) copyAs(t *pipeline.Task, idx string) *node {
	c := &node{index: idx, task: t, kind: kindOf(t), finally: n.finally, selected: n.selected, why: n.why}
	c.children = make([]*node, len(n.children))
	for i, ch := range n.children {
		c.children[i] = ch.copyAs(t.Children[i], fmt.Sprintf("%s.%d", idx, i+1))
	}
	return c
}

// cellTask is the task one cell runs: t under the cell's name, without the
// matrix, allowed to fail (the matrix task judges); a group's children are
// renamed per cell, so that each cell's events are its own.
func cellTask(t *pipeline.Task, c prepare.Cell) *pipeline.Task {
	ct := *t
	ct.Name, ct.Matrix, ct.ContinueOnError = c.Label, nil, true
	ct.Local = "" // a cell is not what its library's templates name
	ct.Children = cellChildren(t.Children, c)
	return &ct
}

// cellChildren renames a matrix group's (or use's) tasks for one cell, at
// every depth.
func cellChildren(ts []*pipeline.Task, c prepare.Cell) []*pipeline.Task {
	var out []*pipeline.Task
	for _, ch := range ts {
		cc := *ch
		cc.Name = cellName(ch.Name, c)
		cc.Children = cellChildren(ch.Children, c)
		out = append(out, &cc)
	}
	return out
}

// cellName names a group child in one cell: "builder[seed,copy]".
func cellName(child string, c prepare.Cell) string {
	return child + c.Label[strings.IndexByte(c.Label, '['):]
}
