package assert

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/NAME.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./tasks/assert -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./tasks/assert -update rewrites it); got:\n%s", path, got)
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := utilyaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

func mustCompile(t *testing.T, expected string) matcher {
	t.Helper()
	var errs []compileError
	m := compile(decode(t, expected), nil, &errs)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", expected, errs)
	}
	return m
}

// diffs is how actual differs from expected, one line each.
func diffs(t *testing.T, expected, actual string) []string {
	t.Helper()
	root, _ := decode(t, actual).(map[string]any)
	var out []string
	for _, d := range mustCompile(t, expected).match("", root, true, root) {
		out = append(out, strings.Repeat("  ", d.Depth)+d.String())
	}
	return out
}

const pod = `
metadata: {name: web-1, labels: {app: web, tier: front}}
spec:
  replicas: 3
  containers:
  - {name: app, image: "app:v2", ports: [{containerPort: 8080}]}
  - {name: sidecar, image: "proxy:1"}
status:
  phase: Running
  ratio: 0.5
  conditions:
  - {type: Ready, status: "True"}
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable}
`

// TestMatches: expectations that hold, each for its own reason.
func TestMatches(t *testing.T) {
	for _, expected := range []string{
		`metadata: {labels: {app: web}}`,                                                   // a map is a subset
		`spec: {replicas: 3.0}`,                                                            // numbers by value
		`spec: {containers: [{name: app}, {name: sidecar}]}`,                               // in order, items as subsets
		`status: {conditions: {$any: [{type: Available}, {type: Ready, status: "True"}]}}`, // any order
		`spec: {containers: {$all: {image: "${ self.contains(':') }"}}}`,                   // every item
		`spec: {containers: {$all: [{name: sidecar}, {name: app}]}}`,                       // each item one of
		`spec: {replicas: "${ self >= 2 }"}`,
		`status: {ratio: "${ self < 1 }"}`,                                       // float against int
		`spec: {paused: null}`,                                                   // null: absent
		`status: {phase: "${ object.spec.replicas == 3 && self == 'Running' }"}`, // the whole object
		`metadata: {annotations: "${ self == null }"}`,                           // self of an absent field
		`spec: {containers: [{ports: [{containerPort: 8080}]}, {}]}`,
	} {
		if d := diffs(t, expected, pod); len(d) > 0 {
			t.Errorf("%s does not match:\n%s", expected, strings.Join(d, "\n"))
		}
	}
}

// TestDiffs: expectations that do not hold, and what the error says
// (testdata/diffs.golden).
func TestDiffs(t *testing.T) {
	var b strings.Builder
	for _, expected := range []string{
		`spec: {replicas: 2}`,
		`spec: {replicas: "3"}`,
		`status: {readyReplicas: 3}`,
		`spec: {replicas: "${ self >= 5 }"}`,
		`status: {readyReplicas: "${ self >= 1 }"}`,
		`spec: {replicas: "${ self.startsWith('x') }"}`,
		`spec: {replicas: "${ self }"}`,
		`spec: {containers: [{name: app}]}`,
		`spec: {containers: [{name: sidecar}, {name: app}]}`,
		`status: {conditions: {$any: [{type: Available, status: "True"}]}}`,
		`status: {conditions: {$any: [{type: Progressing}]}}`,
		`status: {conditions: {$all: {status: "True"}}}`,
		`status: {conditions: {$all: [{type: Ready}, {type: Progressing}]}}`,
		`status: {missing: {$any: [{a: 1}]}}`,
		`spec: {containers: {name: app}}`,
		`metadata: {labels: {"app.kubernetes.io/name": web}}`,
		`status: {phase: {value: Running}}`,
	} {
		d := diffs(t, expected, pod)
		if len(d) == 0 {
			t.Errorf("%s matches", expected)
		}
		fmt.Fprintf(&b, "expected %s\n  %s\n\n", expected, strings.Join(d, "\n  "))
	}
	golden(t, "diffs", b.String())
}

// TestCompileErrors: what is wrong in an expectation is found before the
// run, at its path.
func TestCompileErrors(t *testing.T) {
	for expected, want := range map[string]string{
		`spec: {replicas: "${ self >= }"}`:                       `[spec replicas]: CEL expression "self >=": ERROR: <input>:1:8: Syntax error`,
		`spec: {replicas: "${ self }"}`:                          ``,
		`spec: {replicas: "${ 1 + 1 }"}`:                         `[spec replicas]: CEL expression "1 + 1" is a int, not a condition`,
		`spec: {replicas: "${ nope > 1 }"}`:                      `[spec replicas]: CEL expression "nope > 1": ERROR: <input>:1:1: undeclared reference to 'nope'`,
		`spec: {replicas: "${ }"}`:                               `[spec replicas]: empty CEL expression`,
		`spec: {containers: {$each: [{name: a}]}}`:               `[spec containers $each]: unknown operator $each`,
		`spec: {containers: {$any: [{name: a}], extra: 1}}`:      `[spec containers $any]: $any stands alone in its map`,
		`spec: {containers: {$all: []}}`:                         `[spec containers $all]: $all needs at least one expected item`,
		`spec: {containers: {$any: [{}, {name: "${ self. }"}]}}`: `[spec containers $any 1 name]: CEL expression "self.": ERROR`,
	} {
		var errs []compileError
		compile(decode(t, expected), nil, &errs)
		got := ""
		for _, e := range errs {
			got += fmt.Sprintf("%v: %s", e.path, e.msg)
		}
		if want == "" {
			// self is dynamic: it compiles, and fails when it is not a boolean.
			if got != "" {
				t.Errorf("%s: %s", expected, got)
			}
			continue
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s:\ngot  %s\nwant %s...", expected, got, want)
		}
	}
}
