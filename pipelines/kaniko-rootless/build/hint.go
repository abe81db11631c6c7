package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// causes tie Kaniko's errors to the capability whose absence causes them
// (measured with pipelines/kaniko-capabilities.yaml; see pipelines/README.md).
// The first that matches wins.
var causes = []struct {
	re   *regexp.Regexp
	caps []string
	why  string
}{
	{regexp.MustCompile(`(?i)cap_set_file|security\.capability|setxattr.*operation not permitted`), []string{"SETFCAP"}, "a file of the image carries file capabilities"},
	{regexp.MustCompile(`(?i)mkdir /kaniko/\d+/\S*: permission denied`), []string{"DAC_OVERRIDE"}, "a multi-stage build saves files under /kaniko/<stage>/"},
	{regexp.MustCompile(`(?i)fork/exec .*operation not permitted|setgroups|setgid|setuid`), []string{"SETUID", "SETGID"}, "a RUN after USER runs as another user"},
	{regexp.MustCompile(`(?i)\bl?chown\b.*operation not permitted`), []string{"CHOWN"}, "files change owner (unpacking the base image, or a RUN's chown)"},
	{regexp.MustCompile(`(?i)\b(chmod|utime|chtimes)\b.*operation not permitted`), []string{"FOWNER"}, "files of another owner change mode or times"},
	{regexp.MustCompile(`(?i)failed to execute command: operation not permitted\s*$|killing`), []string{"KILL"}, "a RUN left a process of another user running, which Kaniko kills"},
	{regexp.MustCompile(`(?i)permission denied`), []string{"DAC_OVERRIDE"}, "root reads or writes files it does not own (e.g. a 0700 folder of another user)"},
}

// hint says which capability Kaniko's error points at and how to give it,
// given the capabilities the builder has; "" when none fits or the builder
// has it already.
func hint(kanikoErr string, have []string) string {
	for _, c := range causes {
		if !c.re.MatchString(kanikoErr) {
			continue
		}
		var missing []string
		for _, cp := range c.caps {
			if !contains(have, cp) {
				missing = append(missing, cp)
			}
		}
		if len(missing) == 0 {
			return ""
		}
		all := append(append([]string(nil), have...), missing...)
		return fmt.Sprintf("the builder likely lacks %s (%s): run with --set capabilities=[%s] (values file: capabilities: [%s])",
			strings.Join(missing, ", "), c.why, strings.Join(all, ","), strings.Join(all, ", "))
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// capNames are the capabilities a Kaniko builder may be given, in the
// order of their numbers (linux/capability.h), for /proc/self/status.
var capNames = map[int]string{0: "CHOWN", 1: "DAC_OVERRIDE", 2: "DAC_READ_SEARCH", 3: "FOWNER", 4: "FSETID", 5: "KILL",
	6: "SETGID", 7: "SETUID", 8: "SETPCAP", 10: "NET_BIND_SERVICE", 13: "NET_RAW", 18: "SYS_CHROOT", 21: "SYS_ADMIN",
	27: "MKNOD", 29: "AUDIT_WRITE", 31: "SETFCAP"}

// effectiveCaps reads this process's effective capabilities (the
// builder container's), in the pipeline's customary order. A variable:
// tests give the build program the seed's four.
var effectiveCaps = func() []string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	return parseCapEff(string(data))
}

func parseCapEff(status string) []string {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil
		}
		var out []string
		for _, n := range []int{0, 7, 6, 3, 1, 2, 31, 5, 4, 8, 10, 13, 18, 21, 27, 29} {
			if bits&(1<<uint(n)) != 0 {
				out = append(out, capNames[n])
			}
		}
		return out
	}
	return nil
}
