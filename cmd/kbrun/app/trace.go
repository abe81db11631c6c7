package app

import "github.com/spf13/cobra"

// traceFlag is --trace as given: nil when it was not (the OTEL_*
// variables decide), false for plan, which has no such flag and is not
// traced.
func traceFlag(cmd *cobra.Command) *bool {
	f := cmd.Flags().Lookup("trace")
	if f == nil {
		off := false
		return &off
	}
	if !f.Changed {
		return nil
	}
	on := f.Value.String() == "true"
	return &on
}
