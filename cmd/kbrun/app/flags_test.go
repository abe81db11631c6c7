package app_test

import (
	"context"
	"testing"

	"github.com/spf13/pflag"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

// TestSharedRunFlags: validate, plan and run take the values and the
// selection, and a flag two of them have is the same flag: same
// shorthand, type, help and bare value. Only --dry-run's default differs,
// being what tells plan from run.
func TestSharedRunFlags(t *testing.T) {
	root := app.NewRootCommand(context.Background(), app.IO{})
	seen := map[string]*pflag.Flag{}
	from := map[string]string{}
	for _, name := range []string{"validate", "plan", "run"} {
		c, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"values", "set", "set-file", "only", "from", "skip"} {
			if c.LocalNonPersistentFlags().Lookup(want) == nil {
				t.Errorf("kbrun %s has no --%s", name, want)
			}
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			g, ok := seen[f.Name]
			if !ok {
				seen[f.Name], from[f.Name] = f, name
				return
			}
			if f.Usage != g.Usage || f.Shorthand != g.Shorthand || f.Value.Type() != g.Value.Type() || f.NoOptDefVal != g.NoOptDefVal || f.Hidden != g.Hidden {
				t.Errorf("--%s differs between kbrun %s and kbrun %s:\n%q -%s %s %q\n%q -%s %s %q", f.Name, from[f.Name], name,
					g.Usage, g.Shorthand, g.Value.Type(), g.NoOptDefVal, f.Usage, f.Shorthand, f.Value.Type(), f.NoOptDefVal)
			}
			if f.DefValue != g.DefValue && f.Name != "dry-run" {
				t.Errorf("--%s: default %q in kbrun %s, %q in kbrun %s", f.Name, g.DefValue, from[f.Name], f.DefValue, name)
			}
		})
	}
	if d := seen["dry-run"]; d == nil || d.DefValue != "client" {
		t.Errorf("kbrun plan's --dry-run: %+v, want its default client", d)
	}
}

// TestValidateChecksTheSelection: validate checks --only, --from and
// --skip as plan and run do, with the same words.
func TestValidateChecksTheSelection(t *testing.T) {
	for _, sel := range [][]string{{"--only", "nosuch"}, {"--skip", "nosuch"}, {"--only", "hello", "--from", "hello"}} {
		var got []string
		for _, cmd := range []string{"validate", "plan"} {
			code, out, errOut := kbrun(append([]string{cmd, "testdata/ok.yaml"}, sel...)...)
			if code != 2 || out != "" {
				t.Errorf("kbrun %s %v: exit %d, stdout %q; want exit 2 and nothing checked", cmd, sel, code, out)
			}
			got = append(got, errOut)
		}
		if got[0] != got[1] || got[0] == "" {
			t.Errorf("%v: validate says %q, plan %q", sel, got[0], got[1])
		}
	}
	if code, out, _ := kbrun("validate", "testdata/ok.yaml", "--only", "hello"); code != 0 || out != "testdata/ok.yaml: valid\n" {
		t.Errorf("validate --only hello: exit %d, %q", code, out)
	}
}
