// Package deps pins the libraries the project has chosen until code imports them.
package deps

import (
	_ "github.com/Masterminds/sprig/v3"
	_ "github.com/hashicorp/go-multierror"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/cli-runtime/pkg/genericclioptions"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/tools/remotecommand"
	_ "k8s.io/client-go/tools/watch"
	_ "k8s.io/client-go/restmapper"
	_ "k8s.io/kubectl/pkg/polymorphichelpers"
	_ "k8s.io/pod-security-admission/policy"
	_ "sigs.k8s.io/yaml"
)
