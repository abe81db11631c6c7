package manifest

import (
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
)

// fieldProblem is a value of a manifest that the API server (or the
// container runtime, for capabilities) would refuse, at its path in the
// document.
type fieldProblem struct {
	path []string
	msg  string
}

// objectChecker collects the problems of one object.
type objectChecker struct{ out []fieldProblem }

func (c *objectChecker) check(path []string, value string, f func(string) error) {
	if value == "" || task.IsUnknown(value) {
		return
	}
	if err := f(value); err != nil {
		c.out = append(c.out, fieldProblem{path: path, msg: err.Error()})
	}
}

// podSpecPaths is where each workload kind keeps its pod template.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// checkObject checks what of an object the API server would refuse by its
// meaning (names, namespace, labels, annotations, container names, ports,
// environment variable names) and the capability names a container
// runtime would refuse when the pod starts: the request is never sent.
func checkObject(u *unstructured.Unstructured) []fieldProblem {
	c := &objectChecker{}
	kind := u.GetKind()
	c.check([]string{"metadata", "name"}, u.GetName(), func(s string) error { return valid.Name(kind, s) })
	c.check([]string{"metadata", "namespace"}, u.GetNamespace(), valid.Namespace)
	c.meta([]string{"metadata"}, u.Object)
	if kind == "Service" {
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		c.ports(ports, []string{"spec", "ports"}, "port", true)
	}
	if path, ok := podSpecPaths[kind]; ok {
		if len(path) > 1 {
			c.meta(append(path[:len(path)-1:len(path)-1], "metadata"), u.Object)
			c.labels(append(path[:len(path)-2:len(path)-2], "selector", "matchLabels"), u.Object)
		}
		c.podSpec(path, u.Object)
	}
	return c.out
}

// meta checks the labels and annotations of the metadata at path.
func (c *objectChecker) meta(path []string, obj map[string]any) {
	c.labels(append(path[:len(path):len(path)], "labels"), obj)
	annotations, _, _ := unstructured.NestedMap(obj, append(path[:len(path):len(path)], "annotations")...)
	for _, k := range sortedKeys(annotations) {
		c.check(append(path[:len(path):len(path)], "annotations", k), k, valid.AnnotationKey)
	}
}

func (c *objectChecker) labels(path []string, obj map[string]any) {
	labels, _, _ := unstructured.NestedMap(obj, path...)
	for _, k := range sortedKeys(labels) {
		at := append(path[:len(path):len(path)], k)
		c.check(at, k, valid.LabelKey)
		if v, ok := labels[k].(string); ok && !task.IsUnknown(v) {
			if err := valid.LabelValue(v); err != nil {
				c.out = append(c.out, fieldProblem{path: at, msg: err.Error()})
			}
		}
	}
}

func (c *objectChecker) podSpec(path []string, obj map[string]any) {
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		containers, _, _ := unstructured.NestedSlice(obj, append(path[:len(path):len(path)], list)...)
		for i, item := range containers {
			ctr, _ := item.(map[string]any)
			at := append(path[:len(path):len(path)], list, strconv.Itoa(i))
			name, _ := ctr["name"].(string)
			c.check(append(at[:len(at):len(at)], "name"), name, valid.ContainerName)
			ports, _ := ctr["ports"].([]any)
			c.ports(ports, append(at[:len(at):len(at)], "ports"), "containerPort", false)
			env, _ := ctr["env"].([]any)
			for j, e := range env {
				m, _ := e.(map[string]any)
				n, _ := m["name"].(string)
				c.check(append(at[:len(at):len(at)], "env", strconv.Itoa(j), "name"), n, envVarName)
			}
			for _, op := range []string{"add", "drop"} {
				caps, _, _ := unstructured.NestedStringSlice(ctr, "securityContext", "capabilities", op)
				for j, cp := range caps {
					c.check(append(at[:len(at):len(at)], "securityContext", "capabilities", op, strconv.Itoa(j)), cp, valid.Capability)
				}
			}
		}
	}
}

// envVarName is the API server's rule for a container's environment
// variable names (printable ASCII without =), wider than the POSIX names
// kbrun's own tasks take.
func envVarName(s string) error {
	if errs := validation.IsRelaxedEnvVarName(s); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid environment variable name: %s", s, errs[0])
	}
	return nil
}

// ports checks a list of ports (at path): each name and number (a
// Service's targetPort too, a number or a name).
func (c *objectChecker) ports(ports []any, path []string, numberField string, service bool) {
	for i, item := range ports {
		p, _ := item.(map[string]any)
		at := append(path[:len(path):len(path)], strconv.Itoa(i))
		name, _ := p["name"].(string)
		c.check(append(at[:len(at):len(at)], "name"), name, valid.PortName)
		if n, ok := p[numberField].(int64); ok {
			if err := valid.PortNumber(n); err != nil {
				c.out = append(c.out, fieldProblem{path: append(at[:len(at):len(at)], numberField), msg: err.Error()})
			}
		}
		if !service {
			continue
		}
		switch tp := p["targetPort"].(type) {
		case int64:
			if err := valid.PortNumber(tp); err != nil {
				c.out = append(c.out, fieldProblem{path: append(at[:len(at):len(at)], "targetPort"), msg: err.Error()})
			}
		case string:
			c.check(append(at[:len(at):len(at)], "targetPort"), tp, valid.Port)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// objectErrors turns the problems of an object in document doc of file
// name into errors at their lines.
func objectErrors(name string, doc document, index int, u *unstructured.Unstructured, problems []fieldProblem) []*pipeline.Error {
	if len(problems) == 0 {
		return nil // positions are only needed for problems, and every plan decodes every manifest
	}
	_, src, _ := pipeline.Parse(name, []byte(doc.text))
	out := make([]*pipeline.Error, 0, len(problems))
	for _, p := range problems {
		pos := pipeline.Pos{Line: 1, Col: 1}
		if src != nil {
			pos = src.Value(p.path)
		}
		pos.Line += doc.line - 1
		out = append(out, &pipeline.Error{File: name, Pos: pos, Msg: fmt.Sprintf("document %d, %s %s: %s: %s", index, u.GetKind(), u.GetName(), joinPath(p.path), p.msg)})
	}
	return out
}

// joinPath writes a path in a manifest as kubectl explains it:
// spec.containers[0].name.
func joinPath(path []string) string {
	var s string
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			s += "[" + p + "]"
			continue
		}
		if s != "" {
			s += "."
		}
		s += p
	}
	return s
}
