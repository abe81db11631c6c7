package load

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// templatesTree checks every string in a generic value.
func (c *checker) templatesTree(path []string, v any, sc *scope, owner string) {
	switch x := v.(type) {
	case string:
		c.templates(path, x, sc, owner)
	case []any:
		for i, item := range x {
			c.templatesTree(sub(path, strconv.Itoa(i)), item, sc, owner)
		}
	case map[string]any:
		for k, item := range x {
			c.templatesTree(sub(path, k), item, sc, owner)
		}
	}
}

// templates parses one template string and checks what it refers to.
// owner is "vars" for var defaults (which may not use task outputs).
func (c *checker) templates(path []string, s string, sc *scope, owner string) {
	if !tmpl.Has(s) {
		return
	}
	t, err := tmpl.Parse(pipeline.FieldPath(path), s)
	if err != nil {
		c.errAt(path, "%s", err)
		return
	}
	for _, ref := range tmpl.Refs(t) {
		if msg := c.checkRef(ref, sc, owner); msg != "" {
			c.errAt(path, "%s", msg)
		}
	}
}

var pipelineFields = map[string]bool{"name": true, "dir": true, "file": true, "runId": true}

func (c *checker) checkRef(ref tmpl.Ref, sc *scope, owner string) string {
	dotted := "." + strings.Join(append([]string{ref.Root}, ref.Path...), ".")
	switch ref.Root {
	case "vars":
		if c.lib {
			return fmt.Sprintf("a library's tasks do not see the pipeline's vars (%s): declare a param under params: and have the pipeline give it with with:", dotted)
		}
		if len(ref.Path) > 0 && !sc.vars[ref.Path[0]] {
			return fmt.Sprintf("template refers to undefined var %q (%s)%s", ref.Path[0], dotted, didYouMean(ref.Path[0], keys(sc.vars)))
		}
	case "params":
		if !c.lib {
			return fmt.Sprintf("unknown template data %s: params are declared by libraries of tasks (kind: Tasks); a pipeline has .vars", dotted)
		}
		if len(ref.Path) > 0 && !sc.vars[ref.Path[0]] {
			return fmt.Sprintf("template refers to undefined param %q (%s)%s", ref.Path[0], dotted, didYouMean(ref.Path[0], keys(sc.vars)))
		}
	case "env":
	case "pipeline":
		if len(ref.Path) > 0 && !pipelineFields[ref.Path[0]] {
			return fmt.Sprintf("unknown field %s: .pipeline has name, dir, file and runId", dotted)
		}
	case "matrix":
		return c.checkMatrixRef(ref, owner, dotted)
	case "cell":
		if owner != matrixUntil {
			return fmt.Sprintf("%s exists only in a matrix task's until", dotted)
		}
		return c.cellRef(ref, sc.cellOf, dotted)
	case "tasks":
		if owner == "vars" {
			if c.lib {
				return fmt.Sprintf("param defaults cannot use task outputs (%s): params are resolved before the library's tasks run", dotted)
			}
			return fmt.Sprintf("var defaults cannot use task outputs (%s): vars are resolved before any task runs", dotted)
		}
		if len(ref.Path) == 0 {
			return ""
		}
		name := ref.Path[0]
		t, ok := sc.visible(name)
		if !ok {
			if name == owner {
				return fmt.Sprintf("task %q refers to its own outputs (%s)", name, dotted)
			}
			if c.taskExists(name) {
				return fmt.Sprintf("template refers to task %q, which has not run at this point (%s): a task can use the outputs of earlier tasks only", name, dotted)
			}
			return fmt.Sprintf("template refers to unknown task %q (%s)", name, dotted)
		}
		if len(ref.Path) > 1 {
			out := ref.Path[1]
			if slices.Contains(task.EndOutputs, out) {
				return "" // every task has them once it ended
			}
			if msg := c.unguarded(ref, sc, owner, dotted); msg != "" {
				return msg
			}
			if len(t.Matrix) > 0 {
				if out != pipeline.CellsOutput {
					return fmt.Sprintf("task %q runs as a matrix: its outputs are per cell, in .tasks.%s.cells (%s)", name, name, dotted)
				}
				return ""
			}
			if t.Type == pipeline.ParallelType {
				return fmt.Sprintf("task %q is a parallel group and has no outputs but status and error; use its children's (%s)", name, dotted)
			}
			if t.Type == pipeline.UsesType {
				return usesOutput(t, out, dotted)
			}
			typ, ok := c.l.reg.Get(t.Type)
			if !ok {
				return ""
			}
			if outs := task.OutputsOf(typ, t.Params); !slices.Contains(outs, out) {
				return fmt.Sprintf("task %q (%s) has no output %q (%s); it has: %s", name, t.Type, out, dotted, strings.Join(append(outs, task.EndOutputs...), ", "))
			}
		}
	default:
		if c.lib {
			return fmt.Sprintf("unknown template data %s: use .params, .env, .pipeline or .tasks", dotted)
		}
		return fmt.Sprintf("unknown template data %s: use .vars, .env, .pipeline or .tasks", dotted)
	}
	return ""
}

func (c *checker) taskExists(name string) bool {
	for _, t := range c.allTasks {
		if t.Name == name {
			return true
		}
	}
	return false
}

// matrixOuter is the owner of templates that are decided before a matrix's
// cells exist (its when and its dimensions).
const matrixOuter = " matrix"

// matrixUntil is the owner of a matrix task's until: it sees .cell.
const matrixUntil = " until"

func (c *checker) checkMatrixRef(ref tmpl.Ref, owner, dotted string) string {
	if owner == "vars" {
		return fmt.Sprintf("var defaults cannot use %s: .matrix exists only in a matrix task's cells", dotted)
	}
	if owner == matrixOuter || owner == matrixUntil {
		return fmt.Sprintf("%s is not known yet here: a matrix task's when and dimensions are decided before its cells (use .matrix in its parameters)", dotted)
	}
	t := c.findTask(owner)
	if t == nil || len(t.MatrixScope) == 0 {
		return fmt.Sprintf("template uses %s, but task %q has no matrix (add matrix: to it or to its group)", dotted, owner)
	}
	if len(ref.Path) > 0 && !slices.Contains(t.MatrixScope, ref.Path[0]) {
		return fmt.Sprintf("the matrix has no key %q (%s); it has: %s", ref.Path[0], dotted, strings.Join(t.MatrixScope, ", "))
	}
	return ""
}

func (c *checker) findTask(name string) *pipeline.Task {
	for _, t := range c.allTasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}
