// Command kcluster is a multi-call binary holding the Kubernetes v1.37.2 node and
// control-plane components plus an embedded etcd, for kbrun's test cluster harness.
//
// Dispatch: on the base name of argv[0] (when invoked through a symlink such as
// kube-apiserver) or else on argv[1] (kcluster kube-apiserver --flags...).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // CronJob time zone support, as upstream's apiserver/controller-manager

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/component-base/version"

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: kcluster {etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|cri-reset|version} [flags]\n")
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if _, ok := commands[name]; !ok && name != "etcd" {
		if len(os.Args) < 2 {
			usage()
			os.Exit(2)
		}
		name = os.Args[1]
		args = append([]string{name}, os.Args[2:]...)
	}
	switch name {
	case "etcd":
		etcdmain.Main(args)
		return
	case "cri-reset":
		os.Exit(criReset(args[1:]))
	case "version", "--version", "-version":
		fmt.Printf("kcluster %s (etcd embedded)\n", version.Get().GitVersion)
		return
	}
	newCmd, ok := commands[name]
	if !ok {
		usage()
		os.Exit(2)
	}
	cmd := newCmd()
	os.Args = args
	cmd.SetArgs(args[1:])
	os.Exit(cli.Run(cmd))
}
