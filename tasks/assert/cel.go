package assert

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// celSource is the expression of a value written "${ expr }".
func celSource(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "${") || !strings.HasSuffix(t, "}") {
		return "", false
	}
	return strings.TrimSpace(t[2 : len(t)-1]), true
}

// celEnv is the environment of every expression: self is the field's
// value (null when absent), object the whole live object, as in
// Kubernetes' CRD validation rules and admission policies.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("self", cel.DynType),
		cel.Variable("object", cel.DynType),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	)
})

// celCost bounds one evaluation (a comprehension over a huge list).
const celCost = 1_000_000

// celM is a field checked by a CEL expression that must be true.
type celM struct {
	src string
	prg cel.Program
}

func compileCEL(src string) (*celM, error) {
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	if src == "" {
		return nil, fmt.Errorf("empty CEL expression ${ }")
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("CEL expression %q: %s", src, strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("CEL expression %q is a %s, not a condition: compare it (self == ...)", src, t)
	}
	prg, err := env.Program(ast, cel.CostLimit(celCost))
	if err != nil {
		return nil, fmt.Errorf("CEL expression %q: %v", src, err)
	}
	return &celM{src: src, prg: prg}, nil
}

func (m *celM) String() string { return "${ " + m.src + " }" }

func (m *celM) match(path string, actual any, present bool, root map[string]any) []Mismatch {
	var self any
	if present {
		self = actual
	}
	out, _, err := m.prg.Eval(map[string]any{"self": self, "object": root})
	if err == nil && out == types.True {
		return nil
	}
	got := shown(actual, present)
	switch {
	case !present:
		// null has no overloads: the absence says it all.
	case err != nil:
		got += fmt.Sprintf(" (the expression fails: %v)", err)
	case out.Type() != types.BoolType:
		got += fmt.Sprintf(" (the expression gives %v, not true or false)", out.Value())
	}
	return []Mismatch{{Path: path, Expected: m.String(), Actual: got}}
}
