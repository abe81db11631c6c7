package app

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/task"
)

func newSchemaCommand(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of pipeline files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loader, err := newLoader()
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(loader.Schema())
			return err
		},
	}
}

func newTasksCommand(streams IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List the task types with their parameters and outputs (-o markdown: the table in docs/tasks.md)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text":
			case "markdown":
				_, err := io.WriteString(streams.Out, task.MarkdownTable(mustRegistry().Types()))
				return err
			default:
				return exit.Usagef("-o %s: want text or markdown", output)
			}
			for _, t := range mustRegistry().Types() {
				fmt.Fprintf(streams.Out, "%s — %s\n", t.Name(), t.Summary())
				var sch struct {
					Properties map[string]struct {
						Type        any    `json:"type"`
						Description string `json:"description"`
					} `json:"properties"`
					Required []string `json:"required"`
				}
				if err := json.Unmarshal(t.Schema(), &sch); err != nil {
					return fmt.Errorf("schema of %s: %w", t.Name(), err)
				}
				names := make([]string, 0, len(sch.Properties))
				for n := range sch.Properties {
					names = append(names, n)
				}
				sort.Strings(names)
				tw := tabwriter.NewWriter(streams.Out, 0, 2, 2, ' ', 0)
				for _, n := range names {
					p := sch.Properties[n]
					req := ""
					for _, r := range sch.Required {
						if r == n {
							req = " (required)"
						}
					}
					fmt.Fprintf(tw, "    %s\t%s%s\n", n, strings.TrimSpace(p.Description), req)
				}
				tw.Flush()
				if outs := t.Outputs(); len(outs) > 0 {
					fmt.Fprintf(streams.Out, "    outputs: %s\n", strings.Join(outs, ", "))
				}
				fmt.Fprintln(streams.Out)
			}
			fmt.Fprintln(streams.Out, task.CommonFields)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or markdown: the table of task types in docs/tasks.md")
	return cmd
}
