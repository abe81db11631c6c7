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
	"encoding/json"
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
	"sort"
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

// Counts returns the number of injected faults by kind (every kind present).
func (p *Proxy) Counts() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(AllKinds))
	for _, k := range AllKinds {
		out[k] = 0
	}
	for _, in := range p.injections {
		out[in.Kind]++
	}
	return out
}

// CountsByClass returns injected faults by request class and kind, e.g.
// {"watch": {"cut": 3, "503": 1}}.
func (p *Proxy) CountsByClass() map[string]map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]map[Kind]int{}
	for _, in := range p.injections {
		if out[in.Class] == nil {
			out[in.Class] = map[Kind]int{}
		}
		out[in.Class][in.Kind]++
	}
	return out
}

// Requests returns how many requests the proxy received, by class.
func (p *Proxy) Requests() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.requests))
	for k, v := range p.requests {
		out[k] = v
	}
	return out
}

// Log returns every request received so far, in order (faulted ones too).
func (p *Proxy) Log() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Injections returns every injected fault so far, in order.
func (p *Proxy) Injections() []Injection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Injection(nil), p.injections...)
}

// ResetCounts forgets the counts, injections and request log (the rate stays).
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injections = nil
	p.requests = map[string]int{}
	p.log = nil
	p.logGen++
}

// Summary is a one-line account: requests and faults by kind.
func (p *Proxy) Summary() string {
	req := p.Requests()
	total := 0
	for _, n := range req {
		total += n
	}
	counts := p.Counts()
	parts := make([]string, 0, len(counts))
	sum := 0
	for _, k := range AllKinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
		sum += counts[k]
	}
	classes := make([]string, 0, len(req))
	for c := range req {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	cl := make([]string, len(classes))
	for i, c := range classes {
		cl[i] = fmt.Sprintf("%s=%d", c, req[c])
	}
	return fmt.Sprintf("%d requests (%s), %d faults (%s)", total, strings.Join(cl, " "), sum, strings.Join(parts, " "))
}

type connKey struct{}

// logKey carries a request's place in the log, for its answer's status.
type logKey struct{}

type logRef struct{ gen, i int }

// answered records the status of the logged request of ctx.
func (p *Proxy) answered(ctx context.Context, status int) {
	ref, ok := ctx.Value(logKey{}).(logRef)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ref.gen == p.logGen && ref.i >= 0 && ref.i < len(p.log) {
		p.log[ref.i].Status = status
	}
}

// upgradeSplit sends upgrade requests over an HTTP/1.1-only transport.
type upgradeSplit struct{ normal, upgrade http.RoundTripper }

func (u upgradeSplit) RoundTrip(r *http.Request) (*http.Response, error) {
	if isUpgrade(r) {
		return u.upgrade.RoundTrip(r)
	}
	return u.normal.RoundTrip(r)
}

// Class names what a request is: "watch", "log" (followed), "exec",
// "attach", "portforward" (these five are long-lived) or "request".
func Class(r *http.Request) string {
	q := r.URL.Query()
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/exec"):
		return "exec"
	case strings.HasSuffix(path, "/attach"):
		return "attach"
	case strings.HasSuffix(path, "/portforward"):
		return "portforward"
	case strings.HasSuffix(path, "/log") && q.Get("follow") == "true":
		return "log"
	case q.Get("watch") == "true" || q.Get("watch") == "1" || strings.Contains(path, "/watch/"):
		return "watch"
	}
	if isUpgrade(r) {
		return "exec"
	}
	return "request"
}

// LongLived reports whether a class is a long-lived stream.
func LongLived(class string) bool { return class != "request" }

func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	class := Class(r)
	kind, delay, retryAfter, ref := p.decide(r, class)
	r = r.WithContext(context.WithValue(r.Context(), logKey{}, ref))
	switch kind {
	case TooMany:
		p.answered(r.Context(), http.StatusTooManyRequests)
	case Internal:
		p.answered(r.Context(), http.StatusInternalServerError)
	case Unavailable:
		p.answered(r.Context(), http.StatusServiceUnavailable)
	}
	if kind != "" && p.opts.Logf != nil {
		p.opts.Logf("faultproxy: %s %s %s (%s)", kind, r.Method, r.URL.RequestURI(), class)
	}
	switch kind {
	case TooMany:
		w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
		writeStatus(w, http.StatusTooManyRequests, "TooManyRequests", "faultproxy: injected 429: too many requests, please try again later", retryAfter)
		return
	case Internal:
		writeStatus(w, http.StatusInternalServerError, "InternalError", "Internal error occurred: faultproxy: injected 500", 0)
		return
	case Unavailable:
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "faultproxy: injected 503: the server is currently unable to handle the request", 0)
		return
	case Drop:
		p.drop(w, r)
		return
	case Reset:
		p.reset(w, r)
		return
	case Cut:
		ctx, cancel := context.WithCancel(r.Context())
		t := time.AfterFunc(delay, cancel)
		defer t.Stop()
		defer cancel()
		r = r.WithContext(ctx)
		if isUpgrade(r) {
			// After an upgrade the reverse proxy only watches the
			// request context for the backend side; close the client's
			// connection too so that both ends see the cut.
			if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
				t2 := time.AfterFunc(delay, func() { _ = c.Close() })
				defer t2.Stop()
			}
		}
	}
	p.rp.ServeHTTP(w, r)
}

// decide logs a request and picks its fault ("" for none).
func (p *Proxy) decide(r *http.Request, class string) (kind Kind, delay time.Duration, retryAfter int, ref logRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[class]++
	p.log = append(p.log, Request{Time: time.Now(), Class: class, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.UserAgent()})
	ref = logRef{gen: p.logGen, i: len(p.log) - 1}
	rate := p.Rate()
	if rate <= 0 || (p.opts.Exempt != nil && p.opts.Exempt(r)) {
		return "", 0, 0, ref
	}
	if rate < 1 && p.rng.Float64() >= rate {
		return "", 0, 0, ref
	}
	canCut := LongLived(class) && (p.opts.NoCut == nil || !p.opts.NoCut(r))
	total := 0
	for _, k := range AllKinds {
		if k == Cut && !canCut {
			continue
		}
		total += max(0, p.opts.Weights[k])
	}
	if total == 0 {
		return "", 0, 0, ref
	}
	n := p.rng.IntN(total)
	for _, k := range AllKinds {
		if k == Cut && !canCut {
			continue
		}
		w := max(0, p.opts.Weights[k])
		if n < w {
			kind = k
			break
		}
		n -= w
	}
	if kind == Cut {
		delay = p.opts.CutMin + time.Duration(p.rng.Int64N(int64(p.opts.CutMax-p.opts.CutMin)+1))
	}
	retryAfter = p.rng.IntN(2)
	p.injections = append(p.injections, Injection{Time: time.Now(), Kind: kind, Class: class, Method: r.Method, Path: r.URL.Path, Delay: delay})
	return kind, delay, retryAfter, ref
}

// drop ends the request without an answer.
func (p *Proxy) drop(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor >= 2 {
		// Resets this stream only.
		panic(http.ErrAbortHandler)
	}
	raw := rawConn(r)
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if raw == nil {
				raw = c
			}
			// Close the TCP connection under TLS: no close_notify, the
			// client sees the connection end mid-request.
			_ = raw.Close()
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// reset closes the client's TCP connection with RST.
func (p *Proxy) reset(w http.ResponseWriter, r *http.Request) {
	raw := rawConn(r)
	if r.ProtoMajor < 2 {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				if raw == nil {
					raw = c
				}
				defer c.Close()
			}
		}
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	if raw != nil {
		_ = raw.Close()
	}
	if r.ProtoMajor >= 2 {
		panic(http.ErrAbortHandler)
	}
}

// rawConn is the TCP connection under the request (under TLS, too).
func rawConn(r *http.Request) net.Conn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// status is the API server's metav1.Status, written by hand to keep the
// proxy independent of apimachinery's encoders.
type status struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   struct{}       `json:"metadata"`
	Status     string         `json:"status"`
	Message    string         `json:"message"`
	Reason     string         `json:"reason"`
	Details    *statusDetails `json:"details,omitempty"`
	Code       int            `json:"code"`
}

type statusDetails struct {
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string, retryAfter int) {
	s := status{Kind: "Status", APIVersion: "v1", Status: "Failure", Message: msg, Reason: reason, Code: code}
	if code == http.StatusTooManyRequests {
		s.Details = &statusDetails{RetryAfterSeconds: retryAfter}
	}
	b, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Faultproxy", "injected")
	w.WriteHeader(code)
	_, _ = w.Write(b)
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
