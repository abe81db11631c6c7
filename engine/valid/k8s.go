package valid

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// problem turns apimachinery's list of reasons into one error, nil when
// the list is empty.
func problem(value, what string, reasons []string) error {
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%q is not a valid %s: %s", value, what, strings.Join(reasons, "; "))
}

// Namespace checks a namespace name: a DNS-1123 label (63 characters at
// most, lower case), as the API server requires.
func Namespace(ns string) error {
	return problem(ns, "namespace name", validation.IsDNS1123Label(ns))
}

// nameRule is how the API server checks the names of a kind of object.
type nameRule int

const (
	subdomain nameRule = iota // most kinds: a DNS-1123 subdomain
	label                     // a DNS-1123 label (Namespace)
	dns1035                   // a DNS-1035 label (Service)
	segment                   // any name usable as a path segment (RBAC, custom kinds)
)

// nameRules are the built-in kinds whose names follow another rule than a
// DNS-1123 subdomain (k8s.io/kubernetes/pkg/apis/*/validation). Kinds not
// listed here and not in subdomainKinds (custom resources) get the rule
// every object name has: a valid path segment.
var nameRules = map[string]nameRule{
	"Namespace":          label,
	"Service":            dns1035,
	"Role":               segment,
	"ClusterRole":        segment,
	"RoleBinding":        segment,
	"ClusterRoleBinding": segment,
}

// subdomainKinds are the built-in kinds whose names are DNS-1123 subdomains.
var subdomainKinds = map[string]bool{
	"Pod": true, "ConfigMap": true, "Secret": true, "ServiceAccount": true,
	"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true,
	"Job": true, "CronJob": true, "PersistentVolumeClaim": true, "PersistentVolume": true,
	"Ingress": true, "NetworkPolicy": true, "PodDisruptionBudget": true,
	"HorizontalPodAutoscaler": true, "LimitRange": true, "ResourceQuota": true,
	"Endpoints": true, "EndpointSlice": true, "StorageClass": true, "PriorityClass": true,
	"Lease": true, "ReplicationController": true, "Node": true, "RuntimeClass": true,
	"IngressClass": true, "CustomResourceDefinition": true,
}

// Name checks an object name for its kind, as the API server would: a
// Namespace's is a DNS-1123 label, a Service's a DNS-1035 label, most
// others a DNS-1123 subdomain (253 characters, lower case), and any name
// at all a valid path segment. kind is matched case-insensitively and may
// be plural or qualified with its group (deployments.apps).
func Name(kind, name string) error {
	k := canonicalKind(kind)
	what := "name"
	if k != "" {
		what = k + " name"
	}
	rule, ok := nameRules[k]
	if !ok {
		rule = segment
		if subdomainKinds[k] {
			rule = subdomain
		}
	}
	switch rule {
	case label:
		return problem(name, what, validation.IsDNS1123Label(name))
	case dns1035:
		return problem(name, what, validation.IsDNS1035Label(name))
	case subdomain:
		return problem(name, what, validation.IsDNS1123Subdomain(name))
	}
	return problem(name, what, content.IsPathSegmentName(name))
}

// canonicalKind maps the spellings of a kind a task accepts (deployment,
// deployments.apps, Deployment) to the kind; unknown kinds come back as
// they are.
func canonicalKind(kind string) string {
	k, _, _ := strings.Cut(kind, ".")
	if known, ok := kindSpellings[strings.ToLower(k)]; ok {
		return known
	}
	return kind
}

// kindSpellings are the lower-case kinds and resources of nameRules and
// subdomainKinds.
var kindSpellings = func() map[string]string {
	out := map[string]string{}
	add := func(kind string) {
		lower := strings.ToLower(kind)
		out[lower], out[plural(lower)] = kind, kind
	}
	for kind := range nameRules {
		add(kind)
	}
	for kind := range subdomainKinds {
		add(kind)
	}
	return out
}()

// plural is the resource name of a lower-case kind, as the API spells it.
func plural(kind string) string {
	switch {
	case strings.HasSuffix(kind, "s"):
		return kind + "es"
	case strings.HasSuffix(kind, "y"):
		return strings.TrimSuffix(kind, "y") + "ies"
	}
	return kind + "s"
}

// PodName checks a pod's name (a DNS-1123 subdomain).
func PodName(name string) error { return Name("Pod", name) }

// ServiceName checks a Service's name (a DNS-1035 label).
func ServiceName(name string) error { return Name("Service", name) }

// ContainerName checks a container's name: a DNS-1123 label.
func ContainerName(name string) error {
	return problem(name, "container name", validation.IsDNS1123Label(name))
}

// ConfigMapKey checks a key of a ConfigMap's (or Secret's) data: 253
// characters at most of letters, digits, '-', '_' and '.'.
func ConfigMapKey(key string) error {
	return problem(key, "ConfigMap key", validation.IsConfigMapKey(key))
}

// LabelKey checks a label key: an optional DNS subdomain prefix and a name
// of 63 characters at most.
func LabelKey(key string) error {
	return problem(key, "label key", validation.IsQualifiedName(key))
}

// LabelValue checks a label value: 63 characters at most, alphanumeric at
// both ends, '-', '_' and '.' between.
func LabelValue(value string) error {
	return problem(value, "label value", validation.IsValidLabelValue(value))
}

// AnnotationKey checks an annotation key (the rule of a label key).
func AnnotationKey(key string) error {
	return problem(key, "annotation key", validation.IsQualifiedName(key))
}

// Selector checks a label selector (a=b,c in (d),!e), each key and value
// by the label rules.
func Selector(sel string) error {
	if _, err := labels.Parse(sel); err != nil {
		// apimachinery's words for its own structures ("unable to parse
		// requirement: <nil>: ") say nothing to the author.
		msg := strings.NewReplacer("unable to parse requirement: ", "", "<nil>: ", "").Replace(err.Error())
		return fmt.Errorf("%q is not a label selector: %s", sel, msg)
	}
	return nil
}

// PortNumber checks a port number: 1 to 65535.
func PortNumber(n int64) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("%d is not a port number: %s", n, validation.InclusiveRangeError(1, 65535))
	}
	return nil
}

// PortName checks a port name (IANA_SVC_NAME): 15 characters at most,
// lower-case letters, digits and single hyphens, at least one letter.
func PortName(name string) error {
	return problem(name, "port name", validation.IsValidPortName(name))
}

// Port checks a port given as text: a number (1-65535) or a port name.
func Port(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return PortNumber(n)
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		return fmt.Errorf("%q is neither a port number nor a port name", s)
	}
	if err := PortName(s); err != nil {
		return fmt.Errorf("%q is neither a port number nor a port name: %s", s, strings.TrimPrefix(err.Error(), fmt.Sprintf("%q is not a valid port name: ", s)))
	}
	return nil
}
