package valid

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// EnvName checks the name of an environment variable a task sets for a
// process: a POSIX name (letters, digits and _, not starting with a
// digit), which every shell and program can read back.
func EnvName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("an environment variable name cannot be empty")
	case strings.Contains(name, "="):
		return fmt.Errorf("environment variable name %q contains \"=\": the name ends at the first \"=\", so the variable would be %q", name, name[:strings.Index(name, "=")])
	}
	if len(content.IsCIdentifier(name)) > 0 {
		return fmt.Errorf("%q is not a valid environment variable name: a POSIX name has letters, digits and _ only and does not start with a digit", name)
	}
	return nil
}
