// The programs of the kaniko-rootless pipeline: the build program that runs in
// the builder pod and the demo server it packages. Standard library only, and
// a module of its own so the folder can be copied as is.
module kbrun.dev/pipelines/kaniko-rootless

go 1.22
