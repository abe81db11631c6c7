package valid

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// platforms.json is `go tool dist list -json` of the Go release kbrun is
// built with: the GOOS/GOARCH pairs `go build` accepts. TestPlatformsAreCurrent
// fails when the toolchain's list differs (`go test ./engine/valid -run
// TestPlatformsAreCurrent -update` rewrites it).
//
//go:embed platforms.json
var platformsJSON []byte

// platforms maps each GOOS to its GOARCHes.
var platforms = func() map[string][]string {
	var list []struct{ GOOS, GOARCH string }
	if err := json.Unmarshal(platformsJSON, &list); err != nil {
		panic("platforms.json: " + err.Error())
	}
	out := map[string][]string{}
	for _, p := range list {
		out[p.GOOS] = append(out[p.GOOS], p.GOARCH)
	}
	return out
}()

// Platform checks a GOOS/GOARCH target as `go build` would take it; an
// empty goos or goarch is the host's (what go build uses then). Unknown
// values, values in another case (Linux) and pairs that do not exist
// (windows/mips) are refused, with what exists.
func Platform(goos, goarch string) error {
	if goos == "" {
		goos = runtime.GOOS
	}
	if err := GOOS(goos); err != nil {
		return err
	}
	arches := platforms[goos]
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	if slices.Contains(arches, goarch) {
		return nil
	}
	if err := GOARCH(goarch); err != nil {
		return err
	}
	sorted := slices.Sorted(slices.Values(arches))
	return fmt.Errorf("%s/%s is not a GOOS/GOARCH pair Go supports: %s supports %s", goos, goarch, goos, strings.Join(sorted, ", "))
}

// GOARCH checks an architecture name alone, as GOOS does an operating
// system's: a target with both wrong gets both reported.
func GOARCH(goarch string) error {
	if !slices.Contains(allArches(), goarch) {
		return fmt.Errorf("GOARCH %q is not an architecture Go supports%s", goarch, suggest(goarch, allArches()))
	}
	return nil
}

func allArches() []string {
	var out []string
	for _, arches := range platforms {
		for _, a := range arches {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest names the known value s differs from by case or by a letter or
// two, else lists every known value.
func suggest(s string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, s) {
			return fmt.Sprintf(" (names are lower case: %q)", k)
		}
	}
	if best := Closest(s, known, false); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return "; it is one of " + strings.Join(known, ", ")
}

// GOOS checks an operating system name alone (goos given, goarch not
// looked at): Platform then checks the pair.
func GOOS(goos string) error {
	if strings.Contains(goos, "/") {
		return fmt.Errorf("GOOS %q: give the operating system alone (the architecture goes in goarch)", goos)
	}
	if _, ok := platforms[goos]; !ok {
		return fmt.Errorf("GOOS %q is not an operating system Go supports%s", goos, suggest(goos, keys(platforms)))
	}
	return nil
}

// BuildTag checks a build tag as `go build -tags` takes it: letters,
// digits, _ and . (a comma or a space would split it into several).
func BuildTag(tag string) error {
	for _, r := range tag {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return fmt.Errorf("%q is not a build tag: a tag has letters, digits, _ and . only (give several tags as several items)", tag)
		}
	}
	return nil
}
