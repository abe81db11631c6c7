// Package valid checks values for meaning, with each field's own rules:
// Kubernetes names, namespaces, labels, ports and containers (with
// k8s.io/apimachinery's validation, the API server's own code), GOOS/GOARCH
// pairs (against the list the Go toolchain supports), environment variable
// names, HTTP methods, headers and paths, Linux capability names, numbers,
// durations and the words a `when` may render.
//
// Every check is one function, used both when a pipeline is validated (for
// values that are literal or computed from vars and params) and right
// before a task runs (for values that depend on outputs known only then),
// so that the two cannot disagree. Errors say what is wrong with the value
// and quote it; the caller says where it is (FILE:LINE:COL and the field).
package valid
