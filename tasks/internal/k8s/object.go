package k8s

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Describe names an object for messages: "deployment ones/builder".
func Describe(kind, ns, name string) string {
	k := strings.ToLower(kind)
	if ns == "" {
		return k + " " + name
	}
	return k + " " + ns + "/" + name
}

// HasCondition reports whether an object's status.conditions has type t with
// the given status.
func HasCondition(u *unstructured.Unstructured, t, status string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if strings.EqualFold(fmt.Sprint(m["type"]), t) {
			return strings.EqualFold(fmt.Sprint(m["status"]), status)
		}
	}
	return false
}
