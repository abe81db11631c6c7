// Command faultproxy runs kbrun's fault-injecting API server proxy
// standalone, for manual runs and benchmarks:
//
//	go run ./test/faultproxy/cmd/faultproxy --kubeconfig /var/lib/kbrun-cluster/kubeconfig \
//	    --rate 0.2 --write-kubeconfig /tmp/proxy.kubeconfig
//	kbrun run pipelines/kaniko-rootless.yaml --kubeconfig /tmp/proxy.kubeconfig -o json
//
// It prints every injected fault on stderr and the counts on exit (SIGINT/SIGTERM).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kbrun/kbrun/test/faultproxy"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the real API server")
	kctx := flag.String("context", "", "kubeconfig context")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	rate := flag.Float64("rate", 0.2, "probability of a fault per request (0..1)")
	seed := flag.Uint64("seed", 0, "random seed (0: fixed default)")
	kinds := flag.String("kinds", "", "weights, e.g. 429=1,500=1,503=1,drop=1,reset=1,cut=5 (default those)")
	cutMin := flag.Duration("cut-min", 200*time.Millisecond, "shortest delay before a stream is cut")
	cutMax := flag.Duration("cut-max", 3*time.Second, "longest delay before a stream is cut")
	plain := flag.Bool("plain-http", false, "serve plain HTTP/1.1 instead of HTTPS")
	out := flag.String("write-kubeconfig", "", "write a kubeconfig for the proxy to this file")
	quiet := flag.Bool("quiet", false, "do not print each fault")
	flag.Parse()

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kctx}).ClientConfig()
	if err != nil {
		fatal("kubeconfig: %v", err)
	}
	opts := faultproxy.Options{Rate: *rate, Seed: *seed, CutMin: *cutMin, CutMax: *cutMax, PlainHTTP: *plain}
	if *kinds != "" {
		opts.Weights = map[faultproxy.Kind]int{}
		for _, kv := range strings.Split(*kinds, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(v)
			if !ok || err != nil {
				fatal("--kinds: %q is not KIND=WEIGHT", kv)
			}
			opts.Weights[faultproxy.Kind(k)] = n
		}
	}
	if !*quiet {
		opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
		}
	}
	p, err := faultproxy.NewForConfig(cfg, opts)
	if err != nil {
		fatal("%v", err)
	}
	if err := p.Listen(*listen); err != nil {
		fatal("listen: %v", err)
	}
	if *out != "" {
		if err := p.WriteKubeconfig(*out); err != nil {
			fatal("write kubeconfig: %v", err)
		}
	}
	fmt.Printf("faultproxy: %s -> %s, rate %.2f; kubeconfig %s\n", p.URL(), cfg.Host, *rate, *out)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	p.Close()
	fmt.Printf("faultproxy: %s\n", p.Summary())
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "faultproxy: "+format+"\n", args...)
	os.Exit(2)
}
