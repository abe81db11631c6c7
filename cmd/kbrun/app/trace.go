package app

import "github.com/spf13/cobra"

// traceFlag is --trace as given: nil when it was not (the OTEL_*
// variables decide), false for plan, which has no such flag and is not
// traced.
func (o *RunOptions) traceFlag(cmd *cobra.Command) *bool {
	f := cmd.Flags().Lookup("trace")
	switch {
	case f == nil:
		off := false
		return &off
	case !f.Changed:
		return nil
	}
	return &o.Trace
}
