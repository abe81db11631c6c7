// Package k8s is how the cluster task types reach the run's cluster: the
// clients and namespace a task's env gives, resources by the kind a user
// names (discovery), reads that use a watch the run kept, list-watches for
// the waits, and how objects are named in messages. What only some task
// types do is in packages of its own beside it: manifest, apply, pod,
// waitnote and batchjob.
package k8s

import (
	"fmt"
	"time"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
)

// Clients returns the run's shared cluster clients. A failure to reach or
// configure the cluster is reported with the cause; connection problems are
// retryable.
func Clients(env *task.Env) (*kube.Clients, error) {
	if env == nil || env.Kube == nil {
		return nil, fmt.Errorf("no cluster configured for this run")
	}
	c, err := env.Kube.Clients()
	if err != nil {
		if apicall.IsTransient(err) {
			return nil, task.Retryable(err)
		}
		return nil, err
	}
	return c, nil
}

// Namespace is the namespace a task works in: its own parameter, else the
// run's effective namespace (-n > pipeline > kubeconfig context > "default").
func Namespace(param string, env *task.Env) string {
	if param != "" {
		return param
	}
	if env != nil && env.Namespace != "" {
		return env.Namespace
	}
	return "default"
}

// InNamespace renders the namespace part of a plan line.
func InNamespace(ns string) string {
	if ns == "" {
		return "the run's namespace"
	}
	return "namespace " + ns
}

// Logf reports a progress line when the env has a logger.
func Logf(env *task.Env, format string, args ...any) {
	if env != nil && env.Logf != nil {
		env.Logf(format, args...)
	}
}

// ParseDuration parses an optional duration parameter (valid.Duration);
// empty gives def, and so does a value known only at run time (the task is
// prepared again then).
func ParseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" || task.IsUnknown(s) {
		return def, nil
	}
	d, err := valid.Duration(s)
	if err != nil {
		return 0, task.Fieldf([]string{field}, "%v", err)
	}
	return d, nil
}
