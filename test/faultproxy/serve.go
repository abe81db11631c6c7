package faultproxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

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
