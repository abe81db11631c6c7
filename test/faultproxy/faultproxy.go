// Package faultproxy is a test-only reverse proxy between kbrun and a real
// Kubernetes API server that injects faults at a configurable rate: 429, 500
// and 503 answers (with a metav1.Status body like the API server's), dropped
// connections, TCP resets, and, on long-lived streams (watches, followed
// logs, exec/attach/port-forward upgrades over WebSocket or SPDY), a cut
// after a short random delay. It counts what it injected, by kind.
//
// The proxy listens on 127.0.0.1 with its own self-signed certificate (or
// plain HTTP) and forwards with the credentials of the real kubeconfig, so a
// client needs only the proxy's address and CA: Kubeconfig writes such a
// file.
//
//	p, _ := faultproxy.NewForConfig(restConfig, faultproxy.Options{Rate: 0.2, Seed: 1})
//	_ = p.Start()
//	defer p.Close()
//	_ = p.WriteKubeconfig("proxy.kubeconfig")
//	// run kbrun --kubeconfig proxy.kubeconfig ...
//	fmt.Println(p.Counts())
package faultproxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kind is a kind of injected fault.
type Kind string

// The fault kinds.
const (
	// TooMany answers 429 TooManyRequests with Retry-After 0 or 1.
	TooMany Kind = "429"
	// Internal answers 500 InternalError.
	Internal Kind = "500"
	// Unavailable answers 503 ServiceUnavailable.
	Unavailable Kind = "503"
	// Drop ends the request without an answer: over HTTP/1 the connection is
	// closed (FIN); over HTTP/2 the request's stream is reset (RST_STREAM),
	// the connection stays.
	Drop Kind = "drop"
	// Reset closes the client's TCP connection with SO_LINGER 0 (RST): every
	// request on that connection fails.
	Reset Kind = "reset"
	// Cut forwards a long-lived request (watch, followed log, exec/attach/
	// port-forward upgrade) and cuts it after a random delay between
	// Options.CutMin and CutMax. Applies only to such requests.
	Cut Kind = "cut"
)

// AllKinds lists every kind, in a stable order.
var AllKinds = []Kind{TooMany, Internal, Unavailable, Drop, Reset, Cut}

// Options configure a Proxy.
type Options struct {
	// Rate is the probability in [0,1] that a request gets a fault.
	Rate float64
	// Seed seeds the random choices (0: a fixed default seed).
	Seed uint64
	// Weights give the relative weight of each kind when a fault is
	// injected; a kind with weight 0 is never injected. Nil means
	// DefaultWeights. Cut counts only for long-lived requests.
	Weights map[Kind]int
	// CutMin and CutMax bound the delay before a stream is cut (defaults
	// 200ms and 3s).
	CutMin, CutMax time.Duration
	// PlainHTTP serves HTTP/1.1 without TLS instead of HTTPS (HTTP/2 + 1.1).
	PlainHTTP bool
	// Exempt, when set, names requests that are never faulted.
	Exempt func(r *http.Request) bool
	// NoCut, when set, names long-lived requests that may be faulted when
	// they arrive but are never cut once established (e.g. the exec of a
	// command that must not run twice: a cut exec stream cannot be resumed).
	NoCut func(r *http.Request) bool
	// Logf, when set, receives one line per injected fault.
	Logf func(format string, args ...any)
}

// DefaultWeights: every kind equally likely, except that a long-lived
// request, when faulted, is cut about half of the time.
var DefaultWeights = map[Kind]int{TooMany: 1, Internal: 1, Unavailable: 1, Drop: 1, Reset: 1, Cut: 5}

// Injection records one injected fault.
type Injection struct {
	Time   time.Time
	Kind   Kind
	Class  string // request, watch, log, exec, attach, portforward
	Method string
	Path   string
	// Delay is the time before a Cut.
	Delay time.Duration
}

// Request records one request the proxy received (Log).
type Request struct {
	Time        time.Time
	Class       string // as Class names it
	Method      string
	Path        string
	Query       string // the raw query
	ContentType string
	UserAgent   string
	// Status is the answer's HTTP status (101 for an upgraded stream, an
	// injected fault's code; 0 for a dropped or reset connection).
	Status int
}

// Proxy is the fault-injecting reverse proxy.
type Proxy struct {
	opts     Options
	upstream *url.URL
	rp       *httputil.ReverseProxy

	rateBits atomic.Uint64 // float64 bits of the current rate

	mu         sync.Mutex
	rng        *mrand.Rand
	injections []Injection
	requests   map[string]int // by class
	log        []Request
	logGen     int // bumped by ResetCounts: answers of earlier requests are not recorded

	ln     net.Listener
	srv    *http.Server
	url    string
	caPEM  []byte
	closed chan struct{}
}

// NewForConfig returns a proxy in front of the API server of cfg,
// forwarding with cfg's credentials.
func NewForConfig(cfg *rest.Config, opts Options) (*Proxy, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("transport for %s: %w", cfg.Host, err)
	}
	// Upgrades (SPDY, WebSocket) need HTTP/1.1 end to end; a transport that
	// may pick a pooled HTTP/2 connection answers "http2: invalid Upgrade
	// request header". Give them a transport that only speaks HTTP/1.1.
	h1 := rest.CopyConfig(cfg)
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	rtH1, err := rest.TransportFor(h1)
	if err != nil {
		return nil, fmt.Errorf("HTTP/1.1 transport for %s: %w", cfg.Host, err)
	}
	rt = upgradeSplit{normal: rt, upgrade: rtH1}
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("API server address %q: %w", cfg.Host, err)
	}
	if cfg.APIPath != "" && cfg.APIPath != "/api" && cfg.APIPath != "/apis" {
		// Not expected for kubeconfig-made configs.
		return nil, fmt.Errorf("unsupported APIPath %q", cfg.APIPath)
	}
	return New(u, rt, opts), nil
}

// New returns a proxy to upstream over rt (which carries the credentials).
func New(upstream *url.URL, rt http.RoundTripper, opts Options) *Proxy {
	if opts.Weights == nil {
		opts.Weights = DefaultWeights
	}
	if opts.CutMin <= 0 {
		opts.CutMin = 200 * time.Millisecond
	}
	if opts.CutMax < opts.CutMin {
		opts.CutMax = 3 * time.Second
		if opts.CutMax < opts.CutMin {
			opts.CutMax = opts.CutMin
		}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 0x6b6272756e // "kbrun"
	}
	p := &Proxy{
		opts:     opts,
		upstream: upstream,
		rng:      mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		requests: map[string]int{},
		closed:   make(chan struct{}),
	}
	p.SetRate(opts.Rate)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			// The upstream transport authenticates; never pass on a
			// client's own credentials.
			pr.Out.Header.Del("Authorization")
			pr.Out.Host = upstream.Host
		},
		Transport:     rt,
		FlushInterval: -1, // watches and logs are streamed line by line
		ModifyResponse: func(resp *http.Response) error {
			p.answered(resp.Request.Context(), resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				// A cut, or the client went away: end abruptly.
				panic(http.ErrAbortHandler)
			}
			writeStatus(w, http.StatusBadGateway, "BadGateway", "faultproxy: upstream: "+err.Error(), 0)
		},
	}
	return p
}

// SetRate changes the fault rate (safe while serving).
func (p *Proxy) SetRate(rate float64) {
	if rate < 0 {
		rate = 0
	}
	if rate > 1 {
		rate = 1
	}
	p.rateBits.Store(floatBits(rate))
}

// Rate returns the current fault rate.
func (p *Proxy) Rate() float64 { return bitsFloat(p.rateBits.Load()) }

// Start listens on 127.0.0.1 on a free port and serves until Close.
func (p *Proxy) Start() error { return p.Listen("127.0.0.1:0") }

// Listen serves on addr until Close.
func (p *Proxy) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: nullLogger(),
	}
	if p.opts.PlainHTTP {
		p.ln = ln
		p.url = "http://" + ln.Addr().String()
	} else {
		cert, caPEM, err := selfSigned()
		if err != nil {
			ln.Close()
			return err
		}
		p.caPEM = caPEM
		p.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
		p.ln = tls.NewListener(ln, p.srv.TLSConfig)
		p.url = "https://" + ln.Addr().String()
	}
	go func() { _ = p.srv.Serve(p.ln) }()
	return nil
}

// URL is the proxy's address, e.g. https://127.0.0.1:41234.
func (p *Proxy) URL() string { return p.url }

// CAPEM is the PEM of the proxy's self-signed certificate (nil with PlainHTTP).
func (p *Proxy) CAPEM() []byte { return p.caPEM }

// Close stops the proxy and ends every connection.
func (p *Proxy) Close() error {
	select {
	case <-p.closed:
		return nil
	default:
		close(p.closed)
	}
	if p.srv == nil {
		return nil
	}
	return p.srv.Close()
}

// RESTConfig is a client configuration for the proxy (no credentials: the
// proxy adds the upstream's).
func (p *Proxy) RESTConfig() *rest.Config {
	cfg := &rest.Config{Host: p.url}
	cfg.TLSClientConfig.CAData = p.caPEM
	return cfg
}

// Kubeconfig returns a kubeconfig for the proxy, with namespace as the
// context's namespace when not empty.
func (p *Proxy) Kubeconfig(namespace string) *clientcmdapi.Config {
	c := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server = p.url
	cl.CertificateAuthorityData = p.caPEM
	c.Clusters["faultproxy"] = cl
	// A placeholder token keeps kubectl from prompting for credentials;
	// the proxy drops it and forwards with the upstream's.
	ai := clientcmdapi.NewAuthInfo()
	ai.Token = "faultproxy"
	c.AuthInfos["faultproxy"] = ai
	ctx := clientcmdapi.NewContext()
	ctx.Cluster, ctx.AuthInfo, ctx.Namespace = "faultproxy", "faultproxy", namespace
	c.Contexts["faultproxy"] = ctx
	c.CurrentContext = "faultproxy"
	return c
}

// WriteKubeconfig writes Kubeconfig("") to path.
func (p *Proxy) WriteKubeconfig(path string) error {
	return clientcmd.WriteToFile(*p.Kubeconfig(""), path)
}

func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kbrun faultproxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
func bitsFloat(b uint64) float64 { return math.Float64frombits(b) }

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
