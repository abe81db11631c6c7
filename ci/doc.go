// Package ci holds kbrun's recipes for CI systems (a GitHub Actions
// composite action, a GitLab CI job template, a Tekton Task, an Argo
// Workflows WorkflowTemplate) and the tests that run or check them.
package ci
