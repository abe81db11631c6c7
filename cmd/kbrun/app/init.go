package app

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kbrun/kbrun/engine/exit"
)

//go:embed starter/pipeline.yaml
var starter string

// SchemaFile is the schema kbrun init writes beside the pipeline, for
// editors: the yaml-language-server line of the starter names it.
const SchemaFile = "kbrun.schema.json"

func newInitCommand(streams IO) *cobra.Command {
	var name, file string
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a starter pipeline (and the schema for editors) into a folder",
		Long: `init writes DIR/pipeline.yaml, a pipeline that deploys a web server, checks
that it answers over HTTP and cleans up, valid as written; and DIR/` + SchemaFile + `,
the JSON Schema that the pipeline's yaml-language-server line names, so that
editors complete and check it. Existing files are left alone unless --force.`,
		Example: `  kbrun init                 # ./pipeline.yaml and ./kbrun.schema.json
  kbrun init deploy --name web-smoke`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if name == "" {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				name = dnsLabel(filepath.Base(abs))
			}
			if reasons := validation.IsDNS1123Label(name); len(reasons) > 0 {
				return exit.Usagef("--name %q: a pipeline's name is a DNS label: %s", name, strings.Join(reasons, "; "))
			}
			loader, err := newLoader()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			files := []struct {
				path string
				data []byte
			}{
				{filepath.Join(dir, file), []byte(strings.ReplaceAll(starter, "{{NAME}}", yamlString(name)))},
				{filepath.Join(dir, SchemaFile), loader.Schema()},
			}
			if !force {
				for _, f := range files {
					if _, err := os.Lstat(f.path); err == nil {
						return exit.Usagef("%s exists: kbrun init leaves it alone (--force overwrites)", f.path)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
			for _, f := range files {
				if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "wrote %s\n", f.path)
			}
			p := filepath.Join(dir, file)
			fmt.Fprintf(streams.Out, "next: kbrun validate %s; kbrun plan %s; kbrun run %s\n", p, p, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "Pipeline name (default: the folder's name, as a DNS label)")
	cmd.Flags().StringVar(&file, "file", "pipeline.yaml", "Name of the pipeline file")
	cmd.Flags().BoolVar(&force, "force", false, "Overwrite existing files")
	return cmd
}

// dnsLabel makes a folder's name a pipeline name: accents dropped (é is
// e), lower case, runs of other characters as one -, at most 63
// characters; "pipeline" when nothing is left.
func dnsLabel(s string) string {
	if t, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn))), s); err == nil {
		s = t
	}
	s = strings.ToLower(s)
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > validation.DNS1123LabelMaxLength {
		out = strings.Trim(out[:validation.DNS1123LabelMaxLength], "-")
	}
	if out == "" {
		out = "pipeline"
	}
	return out
}

// yamlString is s as a YAML string scalar, quoted only where YAML would
// read it as something else: a name such as 2024, 007, true or null is
// still a DNS label, but a number, a boolean or null unquoted.
func yamlString(s string) string {
	b, _ := yaml.Marshal(s) // a string always marshals
	return strings.TrimSuffix(string(b), "\n")
}
