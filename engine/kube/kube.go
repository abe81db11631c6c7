// Package kube holds the one set of cluster clients a run shares: one REST
// config, one clientset, one dynamic client and one cached discovery/RESTMapper,
// made lazily so that pipelines without cluster tasks never read a kubeconfig.
package kube

import (
	"fmt"
	"os"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Clients are the run's cluster clients.
type Clients struct {
	Config    *rest.Config
	Typed     kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.CachedDiscoveryInterface
	Mapper    meta.RESTMapper
	// Namespace is the kubeconfig context's namespace (or -n), "default" if none.
	Namespace string
	// ExplicitNamespace is true when -n/--namespace was given.
	ExplicitNamespace bool
	// Watches are the run's watches kept for later tasks (may be nil).
	Watches *Watches
	// Patience tells whether the API server is answering (may be nil).
	Patience *Patience
}

// Provider gives the run's clients, creating them on first use.
type Provider interface {
	Clients() (*Clients, error)
}

// FlagsProvider builds clients from kubectl's standard flags (--kubeconfig,
// --context, -n, ...) once, and hands the same clients to every caller.
type FlagsProvider struct {
	Flags *genericclioptions.ConfigFlags
	// Patience is in every client's transport; set its Notify before the
	// first Clients call.
	Patience *Patience

	once    sync.Once
	clients *Clients
	err     error
}

// NewFlagsProvider returns a provider over kubectl-style config flags. It
// makes every config the flags give (the discovery client's and the REST
// mapper's too) patient with the API server.
func NewFlagsProvider(flags *genericclioptions.ConfigFlags) *FlagsProvider {
	p := &FlagsProvider{Flags: flags, Patience: &Patience{}}
	prev := flags.WrapConfigFn
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		if prev != nil {
			c = prev(c)
		}
		return p.patient(c)
	}
	return p
}

// patient gives c the provider's patience and a rate limiter that never
// fails a request ahead of its deadline. A pipeline makes bursts of calls
// (apply, watch, exec); client-go's default 5 QPS would throttle it for no
// benefit on a single run.
func (p *FlagsProvider) patient(c *rest.Config) *rest.Config {
	c.Wrap(p.Patience.Wrap)
	c.QPS, c.Burst = 50, 100
	c.RateLimiter = newLimiter(c.QPS, c.Burst)
	return c
}

// Clients implements Provider.
func (p *FlagsProvider) Clients() (*Clients, error) {
	p.once.Do(func() { p.clients, p.err = p.build() })
	return p.clients, p.err
}

func (p *FlagsProvider) build() (*Clients, error) {
	if err := p.configured(); err != nil {
		return nil, err
	}
	cfg, err := p.Flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := p.Flags.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mapper, err := p.Flags.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("rest mapper: %w", err)
	}
	ns, explicit, err := p.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("namespace: %w", err)
	}
	if ns == "" {
		ns = "default"
	}
	return &Clients{Config: cfg, Typed: typed, Dynamic: dyn, Discovery: disc, Mapper: mapper, Namespace: ns, ExplicitNamespace: explicit, Watches: &Watches{}, Patience: p.Patience}, nil
}

// Close stops the watches the run kept, once the run is over (after its
// last request).
func (p *FlagsProvider) Close() {
	if p.clients != nil {
		p.clients.Watches.Close()
	}
}

// configured refuses to go on with no cluster configuration at all: client-go
// would fall back to http://localhost:8080 and every request would be
// refused, after the local tasks had run.
func (p *FlagsProvider) configured() error {
	if p.Flags.APIServer != nil && *p.Flags.APIServer != "" {
		return nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return nil // in a pod: in-cluster configuration
	}
	raw, err := p.Flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	if len(raw.Clusters) == 0 {
		where := "~/.kube/config"
		if env := os.Getenv("KUBECONFIG"); env != "" {
			where = "KUBECONFIG=" + env
		}
		if p.Flags.KubeConfig != nil && *p.Flags.KubeConfig != "" {
			where = *p.Flags.KubeConfig
		}
		return fmt.Errorf("no cluster is configured (no cluster in %s, no --server, not in a pod): kubectl would try localhost:8080 and fail with \"The connection to the server localhost:8080 was refused - did you specify the right host or port?\"; give --kubeconfig, --context or --server", where)
	}
	return nil
}

// StaticProvider hands out fixed clients (tests, or callers that built them).
type StaticProvider struct{ C *Clients }

// Clients implements Provider.
func (s StaticProvider) Clients() (*Clients, error) {
	if s.C == nil {
		return nil, fmt.Errorf("no cluster configured")
	}
	return s.C, nil
}
