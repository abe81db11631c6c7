package valid

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// capabilities.txt lists the Linux capabilities, "NAME NUMBER" a line, from
// the kernel's UAPI header; TestCapabilitiesAreCurrent compares it with
// the header and with the running kernel's /proc/sys/kernel/cap_last_cap
// (`go test ./engine/valid -run TestCapabilitiesAreCurrent -update`
// rewrites it from the header).
//
//go:embed capabilities.txt
var capabilitiesTxt string

// capabilityNames are the capabilities' names without the CAP_ prefix, in
// the kernel's order.
var capabilityNames = func() []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(capabilitiesTxt), "\n") {
		name, _, _ := strings.Cut(line, " ")
		out = append(out, name)
	}
	return out
}()

// Capability checks a capability name as a container's securityContext
// takes it: the kernel's name without the CAP_ prefix (CHOWN, NET_ADMIN),
// upper case, or ALL. The API server accepts any text; the container
// runtime refuses an unknown one only when the pod starts.
func Capability(name string) error {
	if name == "ALL" || slices.Contains(capabilityNames, name) {
		return nil
	}
	upper := strings.ToUpper(name)
	if bare, ok := strings.CutPrefix(upper, "CAP_"); ok && slices.Contains(capabilityNames, bare) {
		return fmt.Errorf("capability %q: Kubernetes names capabilities without the CAP_ prefix: give %q", name, bare)
	}
	if slices.Contains(capabilityNames, upper) {
		return fmt.Errorf("capability %q: capability names are upper case: give %q", name, upper)
	}
	return fmt.Errorf("%q is not a Linux capability%s", name, suggest(name, capabilityNames))
}
