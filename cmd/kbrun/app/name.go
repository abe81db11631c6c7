package app

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// PluginBinary is the file name under which kubectl runs kbrun as a plugin
// (`kubectl kbrun` finds kubectl-kbrun on PATH); the release ships the same
// binary under both names.
const PluginBinary = "kubectl-kbrun"

// commandName is the name the help, the examples and usage errors give
// kbrun: what the user typed, "kubectl kbrun" when kubectl ran the binary as
// its plugin (arg0 is then kubectl-kbrun), "kbrun" otherwise.
func commandName(arg0 string) string {
	if strings.TrimSuffix(filepath.Base(arg0), ".exe") == PluginBinary {
		return "kubectl kbrun"
	}
	return "kbrun"
}

// setCommandName makes the command tree say name: cobra's usage lines come
// from the root's display name, the examples are written with "kbrun".
func setCommandName(root *cobra.Command, name string) {
	if name == "kbrun" {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = name
	var rename func(*cobra.Command)
	rename = func(c *cobra.Command) {
		c.Example = strings.ReplaceAll(c.Example, "  kbrun ", "  "+name+" ")
		for _, sub := range c.Commands() {
			rename(sub)
		}
	}
	rename(root)
}
