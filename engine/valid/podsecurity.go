package valid

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// capabilityLevels caches CapabilityLevel: one evaluation per name.
var capabilityLevels sync.Map // name -> psapi.Level

// CapabilityLevel is the most restrictive Pod Security Standards level
// (latest version) under which a container may add the capability:
// restricted allows only NET_BIND_SERVICE, baseline the capabilities
// container runtimes give by default, every other one needs privileged.
// It is asked of the PodSecurity admission's own checks
// (k8s.io/pod-security-admission) with a pod that meets restricted in all
// else, so that it cannot drift from what the API server enforces.
func CapabilityLevel(name string) psapi.Level {
	if l, ok := capabilityLevels.Load(name); ok {
		return l.(psapi.Level)
	}
	l := evaluateCapability(name)
	capabilityLevels.Store(name, l)
	return l
}

func evaluateCapability(name string) psapi.Level {
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return psapi.LevelPrivileged
	}
	yes, no := true, false
	spec := &corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"},
				Add: []corev1.Capability{corev1.Capability(name)}}}}},
	}
	for _, l := range []psapi.Level{psapi.LevelRestricted, psapi.LevelBaseline} {
		res := ev.EvaluatePod(psapi.LevelVersion{Level: l, Version: psapi.LatestVersion()}, &metav1.ObjectMeta{}, spec)
		if policy.AggregateCheckResults(res).Allowed {
			return l
		}
	}
	return psapi.LevelPrivileged
}

// LevelCapabilities lists the capabilities a level allows a container to
// add, in the kernel's order (nil for privileged: all of them).
func LevelCapabilities(level psapi.Level) []string {
	if level == psapi.LevelPrivileged {
		return nil
	}
	var out []string
	for _, c := range capabilityNames {
		if levelRank(CapabilityLevel(c)) >= levelRank(level) {
			out = append(out, c)
		}
	}
	return out
}

// CapabilityAbove checks that a container held to level may add the
// capability; the error says the level it needs and what level allows.
func CapabilityAbove(name string, level psapi.Level) error {
	need := CapabilityLevel(name)
	if levelRank(need) >= levelRank(level) {
		return nil
	}
	allowed := LevelCapabilities(level)
	return fmt.Errorf("capability %s needs Pod Security level %s, above %s, which lets a container add only %s", name, need, level, strings.Join(allowed, ", "))
}

// levelRank orders levels from privileged (0) to restricted (2).
func levelRank(l psapi.Level) int {
	return slices.Index([]psapi.Level{psapi.LevelPrivileged, psapi.LevelBaseline, psapi.LevelRestricted}, l)
}
