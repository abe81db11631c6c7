package faultproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// backend is a fake API server: a pod list, a watch that sends an event
// every 20ms until the client goes away, a followed log, and an exec
// endpoint that upgrades and echoes.
type backend struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		switch Class(r) {
		case "watch", "log":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p%d\"}}}\n", i); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		case "exec":
			if !isUpgrade(r) {
				http.Error(w, "upgrade required", 400)
				return
			}
			c, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", r.Header.Get("Upgrade"))
			rw.Flush()
			_, _ = io.Copy(c, rw) // echo
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a","namespace":"ns"}}]}`)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func start(t *testing.T, b *backend, opts Options) *Proxy {
	t.Helper()
	u, _ := url.Parse(b.srv.URL)
	p := New(u, http.DefaultTransport.(*http.Transport).Clone(), opts)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client trusts the proxy's certificate; h2 selects HTTP/2 (else HTTP/1.1).
func client(p *Proxy, h2 bool) *http.Client {
	tr := &http.Transport{DisableKeepAlives: false}
	if ca := p.CAPEM(); ca != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		if h2 {
			tr.ForceAttemptHTTP2 = true
		} else {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func only(k Kind) map[Kind]int { return map[Kind]int{k: 1} }

func TestRateZeroPassesThrough(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			b := newBackend(t)
			p := start(t, b, Options{Rate: 0, PlainHTTP: plain})
			c := client(p, true)
			for i := 0; i < 50; i++ {
				resp, err := c.Get(p.URL() + "/api/v1/namespaces/ns/pods")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), "PodList") {
					t.Fatalf("status %d body %s", resp.StatusCode, body)
				}
			}
			if got := b.hits.Load(); got != 50 {
				t.Errorf("backend saw %d requests, want 50", got)
			}
			for k, n := range p.Counts() {
				if n != 0 {
					t.Errorf("%s injected %d times at rate 0", k, n)
				}
			}
			if got := p.Requests()["request"]; got != 50 {
				t.Errorf("Requests()[request] = %d", got)
			}
			// Upgrades pass through (exec/attach over SPDY or WebSocket).
			echoUpgrade(t, p, "hello through the proxy")
		})
	}
}

// echoUpgrade opens an upgraded exec connection through the proxy (HTTP/1.1,
// as client-go does for SPDY and WebSocket) and checks the echo.
func echoUpgrade(t *testing.T, p *Proxy, msg string) {
	t.Helper()
	conn := dialProxy(t, p)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/namespaces/ns/pods/a/exec?command=sh HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade status %d", resp.StatusCode)
	}
	fmt.Fprintf(conn, "%s\n", msg)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != msg {
		t.Fatalf("echo %q, %v", line, err)
	}
}

func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(p.URL(), "https://"), "http://")
	if p.CAPEM() == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM())
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatusFaults(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		code   int
		reason string
		is     func(error) bool
	}{
		{TooMany, 429, "TooManyRequests", apierrors.IsTooManyRequests},
		{Internal, 500, "InternalError", apierrors.IsInternalError},
		{Unavailable, 503, "ServiceUnavailable", apierrors.IsServiceUnavailable},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			b := newBackend(t)
			p := start(t, b, Options{Rate: 1, Weights: only(tc.kind)})
			resp, err := client(p, true).Get(p.URL() + "/api/v1/namespaces/ns/pods")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			var st metav1.Status
			if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || string(st.Reason) != tc.reason || st.Code != int32(tc.code) {
				t.Fatalf("body %s (%v)", body, err)
			}
			if tc.kind == TooMany {
				if ra := resp.Header.Get("Retry-After"); ra != "0" && ra != "1" {
					t.Errorf("Retry-After %q", ra)
				}
			}
			if b.hits.Load() != 0 {
				t.Errorf("faulted request reached the backend")
			}
			// client-go reads it as the API server's error. Retries off so
			// that client-go's own Retry-After handling does not hide it.
			cfg := p.RESTConfig()
			cfg.Timeout = 5 * time.Second
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cs.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
			if err == nil || !tc.is(err) {
				t.Errorf("client-go error %v, want %s", err, tc.reason)
			}
			if n := p.Counts()[tc.kind]; n < 2 {
				t.Errorf("count %d", n)
			}
		})
	}
}

func TestDropAndReset(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		h2   bool
		want func(error) bool
	}{
		{Drop, false, func(err error) bool { return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") }},
		{Drop, true, func(err error) bool {
			return strings.Contains(err.Error(), "stream error") || strings.Contains(err.Error(), "INTERNAL_ERROR")
		}},
		{Reset, false, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{Reset, true, func(err error) bool {
			return errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF")
		}},
	} {
		t.Run(fmt.Sprintf("%s/h2=%v", tc.kind, tc.h2), func(t *testing.T) {
			b := newBackend(t)
			p := start(t, b, Options{Rate: 1, Weights: only(tc.kind)})
			c := client(p, tc.h2)
			req, _ := http.NewRequest(http.MethodPost, p.URL()+"/api/v1/namespaces/ns/configmaps", strings.NewReader("{}"))
			resp, err := c.Do(req) // POST: net/http does not retry it
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got status %d, want a broken connection", resp.StatusCode)
			}
			if !tc.want(err) {
				t.Errorf("error %v (%T) is not what a %s looks like", err, err, tc.kind)
			}
			if b.hits.Load() != 0 {
				t.Errorf("faulted request reached the backend")
			}
			if p.Counts()[tc.kind] < 1 {
				t.Errorf("counts %v", p.Counts())
			}
		})
	}
	// Plain HTTP too.
	b := newBackend(t)
	p := start(t, b, Options{Rate: 1, Weights: only(Reset), PlainHTTP: true})
	req, _ := http.NewRequest(http.MethodPost, p.URL()+"/api/v1/namespaces/ns/configmaps", strings.NewReader("{}"))
	if _, err := client(p, false).Do(req); err == nil || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("plain reset: %v", err)
	}
}

func TestCutWatchAndLog(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		for _, path := range []string{"/api/v1/namespaces/ns/pods?watch=true", "/api/v1/namespaces/ns/pods/a/log?follow=true"} {
			t.Run(fmt.Sprintf("h2=%v%s", h2, path), func(t *testing.T) {
				b := newBackend(t)
				p := start(t, b, Options{Rate: 1, Weights: only(Cut), CutMin: 150 * time.Millisecond, CutMax: 300 * time.Millisecond})
				// A short request is never cut: with only Cut enabled it
				// passes untouched.
				resp, err := client(p, h2).Get(p.URL() + "/api/v1/namespaces/ns/pods")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("plain GET: %v", err)
				}
				resp.Body.Close()

				start := time.Now()
				resp, err = client(p, h2).Get(p.URL() + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				n := 0
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					n++
				}
				el := time.Since(start)
				if n == 0 || el < 100*time.Millisecond || el > 3*time.Second {
					t.Errorf("stream of %d lines ended after %s (err %v), want a cut after 150-300ms", n, el, sc.Err())
				}
				if h2 && sc.Err() == nil {
					t.Errorf("an HTTP/2 cut must be an error, not a clean end")
				}
				in := p.Injections()
				if len(in) != 1 || in[0].Kind != Cut || (in[0].Class != "watch" && in[0].Class != "log") || in[0].Delay < 150*time.Millisecond {
					t.Errorf("injections %+v", in)
				}
			})
		}
	}
}

func TestCutUpgrade(t *testing.T) {
	b := newBackend(t)
	p := start(t, b, Options{Rate: 1, Weights: only(Cut), CutMin: 200 * time.Millisecond, CutMax: 200 * time.Millisecond})
	conn := dialProxy(t, p)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/namespaces/ns/pods/a/exec?command=sh HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	start := time.Now()
	// The echo works until the cut, then the connection ends.
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var lastErr error
	for i := 0; i < 200; i++ {
		if _, err := fmt.Fprintf(conn, "ping %d\n", i); err != nil {
			lastErr = err
			break
		}
		if _, err := br.ReadString('\n'); err != nil {
			lastErr = err
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start)
	if lastErr == nil || el < 150*time.Millisecond || el > 2*time.Second {
		t.Errorf("upgraded stream ended after %s with %v, want a cut after 200ms", el, lastErr)
	}
	if c := p.CountsByClass()["exec"][Cut]; c != 1 {
		t.Errorf("exec cuts %d", c)
	}
}

func TestRateIsApproximatelyHonouredAndSeeded(t *testing.T) {
	run := func() ([]Injection, map[Kind]int) {
		b := newBackend(t)
		p := start(t, b, Options{Rate: 0.2, Seed: 42, Weights: map[Kind]int{TooMany: 1, Internal: 1, Unavailable: 1}})
		c := client(p, true)
		for i := 0; i < 1000; i++ {
			resp, err := c.Get(p.URL() + "/api/v1/namespaces/ns/pods")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return p.Injections(), p.Counts()
	}
	in1, counts := run()
	if n := len(in1); n < 150 || n > 250 {
		t.Errorf("%d faults in 1000 requests at rate 0.2", n)
	}
	for _, k := range []Kind{TooMany, Internal, Unavailable} {
		if counts[k] < 30 {
			t.Errorf("kind %s only %d times: %v", k, counts[k], counts)
		}
	}
	if counts[Drop]+counts[Reset]+counts[Cut] != 0 {
		t.Errorf("disabled kinds injected: %v", counts)
	}
	in2, _ := run()
	if len(in1) != len(in2) {
		t.Fatalf("same seed, %d vs %d faults", len(in1), len(in2))
	}
	for i := range in1 {
		if in1[i].Kind != in2[i].Kind {
			t.Fatalf("same seed, fault %d differs: %s vs %s", i, in1[i].Kind, in2[i].Kind)
		}
	}
}

func TestExemptAndSetRate(t *testing.T) {
	b := newBackend(t)
	p := start(t, b, Options{Rate: 1, Weights: only(Internal), Exempt: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/version") }})
	c := client(p, true)
	get := func(path string) int {
		resp, err := c.Get(p.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/version"); s != 200 {
		t.Errorf("exempt request got %d", s)
	}
	if s := get("/api/v1/pods"); s != 500 {
		t.Errorf("rate 1 got %d", s)
	}
	p.SetRate(0)
	if s := get("/api/v1/pods"); s != 200 {
		t.Errorf("rate 0 got %d", s)
	}
	if !strings.Contains(p.Summary(), "500=1") {
		t.Errorf("summary %q", p.Summary())
	}
}

// TestUpgradeOverHTTP2Upstream: with an HTTPS upstream that speaks HTTP/2
// (like the API server) and a pooled HTTP/2 connection to it, upgrades
// still go through (over HTTP/1.1).
func TestUpgradeOverHTTP2Upstream(t *testing.T) {
	b := &backend{}
	plain := newBackend(t)
	b.srv = httptest.NewUnstartedServer(plain.srv.Config.Handler)
	b.srv.EnableHTTP2 = true
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.srv.Certificate().Raw})
	p, err := NewForConfig(&rest.Config{Host: b.srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for i := 0; i < 3; i++ {
		resp, err := client(p, true).Get(p.URL() + "/api/v1/namespaces/ns/pods")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v", err)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("client to proxy: %s, want HTTP/2", resp.Proto)
		}
		resp.Body.Close()
		echoUpgrade(t, p, fmt.Sprintf("spdy %d", i))
	}
}

func TestNoCut(t *testing.T) {
	b := newBackend(t)
	p := start(t, b, Options{Rate: 1, Weights: map[Kind]int{Cut: 1, Internal: 1}, NoCut: func(r *http.Request) bool {
		return r.URL.Query().Get("command") == "keep"
	}})
	c := client(p, true)
	for i := 0; i < 20; i++ {
		resp, err := c.Get(p.URL() + "/api/v1/namespaces/ns/pods/a/exec?command=keep")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("status %d: a NoCut request at rate 1 must get the other kinds", resp.StatusCode)
		}
	}
	if n := p.Counts()[Cut]; n != 0 {
		t.Errorf("%d cuts of NoCut requests", n)
	}
}

func TestClass(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/a/pods":                           "request",
		"/api/v1/namespaces/a/pods?watch=true":                "watch",
		"/apis/apps/v1/namespaces/a/deployments?watch=1":      "watch",
		"/api/v1/namespaces/a/pods/p/log?follow=true":         "log",
		"/api/v1/namespaces/a/pods/p/log":                     "request",
		"/api/v1/namespaces/a/pods/p/exec?command=ls":         "exec",
		"/api/v1/namespaces/a/pods/p/attach":                  "attach",
		"/api/v1/namespaces/a/pods/p/portforward":             "portforward",
		"/apis/apps/v1/watch/namespaces/a/deployments/xyz":    "watch",
		"/apis/apps/v1/namespaces/a/deployments/xyz?watch=no": "request",
	} {
		r := httptest.NewRequest("GET", path, nil)
		if got := Class(r); got != want {
			t.Errorf("Class(%s) = %s, want %s", path, got, want)
		}
	}
}

// Log records every request with its answer's status, injected ones too;
// ResetCounts empties it.
func TestLogRecordsRequestsAndStatus(t *testing.T) {
	b := newBackend(t)
	p := start(t, b, Options{Rate: 0})
	c := client(p, true)
	get := func(path string) {
		resp, err := c.Get(p.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/api/v1/namespaces/ns/pods?labelSelector=a%3Db")
	p.SetRate(1)
	p.opts.Weights = only(Unavailable)
	get("/api/v1/namespaces/ns/pods/x")
	log := p.Log()
	if len(log) != 2 {
		t.Fatalf("log %+v", log)
	}
	if l := log[0]; l.Method != "GET" || l.Path != "/api/v1/namespaces/ns/pods" || l.Query != "labelSelector=a%3Db" || l.Class != "request" || l.Status != 200 {
		t.Errorf("first %+v", l)
	}
	if l := log[1]; l.Path != "/api/v1/namespaces/ns/pods/x" || l.Status != 503 {
		t.Errorf("second %+v", l)
	}
	p.ResetCounts()
	if len(p.Log()) != 0 {
		t.Errorf("after ResetCounts: %+v", p.Log())
	}
}
