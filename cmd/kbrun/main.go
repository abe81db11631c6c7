// Command kbrun runs declarative YAML pipelines against a Kubernetes cluster.
package main

import (
	"os"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

func main() {
	os.Exit(app.MainAs(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
