package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Backoff bounds of the waits between two tries of a request the API server
// did not answer: short at first (a dropped connection is usually back at
// once), then at most MaxWait so that a server that restarts is noticed
// within that much of its return.
const (
	FirstWait = 200 * time.Millisecond
	MaxWait   = 2 * time.Second
	// NoteAfter is how long the API server must have been unreachable
	// before Notify hears of it: a single dropped connection repeated at
	// once is not an outage worth a line.
	NoteAfter = time.Second
	// DefaultBound is how long a request whose context has no deadline
	// (an informer's list or watch, discovery) waits for the API server;
	// the tasks' requests wait until their task's timeout.
	DefaultBound = time.Minute
)

// Outage is a time the API server did not answer.
type Outage struct {
	Since time.Time
	// Back is when it answered again; zero while it does not.
	Back time.Time
	// Err is what the first request that found it gone got.
	Err error
}

// Patience makes the run's requests wait out an API server that is
// unreachable (restarting, its connection refused or dropped, etcd changing
// leader) or that asks clients to slow down (429), for as long as the
// request's context allows, instead of failing after a few tries: an outage
// of a few seconds would otherwise cost a task attempt each time, and the
// task's count of attempts would be spent inside one outage. Requests
// that may have reached the server are repeated only when repeating them is
// harmless (reads, deletes, applies); a create or an exec is repeated only
// when it cannot have arrived (the connection was never made, or the server
// refused it with 429 or 503).
type Patience struct {
	// Notify is told when the API server stops answering and when it
	// answers again (nil: nobody).
	Notify func(Outage)

	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu    sync.Mutex
	down  Outage
	noted bool // Notify was told of down
	// past are the ended outages of at least NoteAfter, the newest last
	// (at most keepPast): a task that times out after the API server came
	// back still names the outage that used its time.
	past []Outage
}

const keepPast = 32

// Since returns the outages that overlapped the time from t to now, the
// current one (Back zero) last (none for a nil p).
func (p *Patience) Since(t time.Time) []Outage {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Outage
	for _, o := range p.past {
		if o.Back.After(t) {
			out = append(out, o)
		}
	}
	if !p.down.Since.IsZero() {
		out = append(out, p.down)
	}
	return out
}

// Down reports the current outage, if any (none for a nil p).
func (p *Patience) Down() (Outage, bool) {
	if p == nil {
		return Outage{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down, !p.down.Since.IsZero()
}

func (p *Patience) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *Patience) failed(err error) Outage {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	if p.down.Since.IsZero() {
		p.down = Outage{Since: now, Err: err}
	}
	if !p.noted && now.Sub(p.down.Since) >= NoteAfter {
		p.noted = true
		if p.Notify != nil {
			p.Notify(p.down)
		}
	}
	return p.down
}

func (p *Patience) answered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down.Since.IsZero() {
		return
	}
	back := p.down
	back.Back = p.clock()
	noted := p.noted
	p.down, p.noted = Outage{}, false
	if !noted {
		return
	}
	p.past = append(p.past, back)
	if len(p.past) > keepPast {
		p.past = p.past[len(p.past)-keepPast:]
	}
	if p.Notify != nil {
		p.Notify(back)
	}
}

// OutageError is a request given up because the API server did not answer
// within the request's time.
type OutageError struct {
	Outage
	// For is how long it had not answered when the request gave up.
	For time.Duration
	Err error
}

func (e *OutageError) Error() string {
	return fmt.Sprintf("the API server has not answered for %s (since %s): %v", e.For.Round(100*time.Millisecond), e.Since.Format("15:04:05"), e.Err)
}

func (e *OutageError) Unwrap() error { return e.Err }

// Wrap returns rt with patience; it is a rest.Config's WrapTransport.
func (p *Patience) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &patientTransport{p: p, rt: rt}
}

type patientTransport struct {
	p  *Patience
	rt http.RoundTripper
}

func (t *patientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	until := Until(ctx, t.p.clock())
	// Some round trippers change the request they send (client-go's
	// WebSocket one turns https into wss in place): every try after the
	// first starts from this copy, as the caller made it.
	pristine := req.Clone(ctx)
	r := req
	for n := 1; ; n++ {
		resp, err := t.rt.RoundTrip(r)
		reason, down := t.judge(req, resp, err)
		if resp != nil && !down {
			t.p.answered() // it answers, if only to say "later" (429)
		}
		if reason == nil {
			return resp, err
		}
		var o Outage
		if down {
			o = t.p.failed(reason)
		}
		wait := Wait(n)
		if ra := retryAfter(resp); ra > wait {
			wait = ra
		}
		next, rerr := rewind(pristine)
		if rerr != nil || t.p.clock().Add(wait).After(until) {
			if resp == nil && down {
				return nil, &OutageError{Outage: o, For: t.p.clock().Sub(o.Since), Err: err}
			}
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if serr := t.p.pause(ctx, wait); serr != nil {
			if down {
				return nil, &OutageError{Outage: o, For: t.p.clock().Sub(o.Since), Err: reason}
			}
			return nil, serr
		}
		r = next
	}
}

func (p *Patience) pause(ctx context.Context, d time.Duration) error {
	if p.sleep != nil {
		return p.sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// judge says why req's outcome is worth another try (nil: it is not), and
// whether that means the API server is not answering.
func (t *patientTransport) judge(req *http.Request, resp *http.Response, err error) (reason error, down bool) {
	if err != nil {
		if req.Context().Err() != nil || !Passing(err) {
			return nil, false
		}
		// Not connected at all: nothing was sent, whatever the request.
		if notSent(err) || repeatable(req) {
			return err, true
		}
		return nil, false
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return fmt.Errorf("%s", resp.Status), false
	case http.StatusServiceUnavailable:
		// Refused before any work: the server is starting or stopping,
		// or an upgrade (exec) it cannot serve yet.
		return fmt.Errorf("%s", resp.Status), true
	case http.StatusGatewayTimeout:
		if repeatable(req) {
			return fmt.Errorf("%s", resp.Status), true
		}
	}
	return nil, false
}

// repeatable reports whether sending req twice does what sending it once
// does: reads, deletes (a second one finds nothing), puts and patches other
// than JSON patches (they set a state). Creates (POST) and upgrades (exec,
// attach, port-forward) are not.
func repeatable(req *http.Request) bool {
	if req.Header.Get("Upgrade") != "" {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPatch:
		return !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json-patch")
	}
	return false
}

// notSent reports whether err means the request never left: no
// connection could be made (refused, no route, dial or TLS handshake
// timeout).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	return strings.Contains(err.Error(), "TLS handshake timeout")
}

// Passing reports whether err is one that passes with time: the API server
// or the way to it gone for now (refused, reset or dropped connections,
// timeouts), restarting (503), its storage changing leader, or the server
// asking clients to slow down (429).
func Passing(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var oe *OutageError
	var ns *notStarted
	if errors.As(err, &oe) || errors.As(err, &ns) {
		return true
	}
	if apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		return s.Code >= 500 && strings.Contains(s.Message, "etcdserver:")
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) || notSent(err) {
		return true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "broken pipe", "i/o timeout", "TLS handshake timeout", "http2: client connection lost", "http2: server sent GOAWAY", "http2: client connection force closed", "use of closed network connection", "etcdserver: leader changed", "etcdserver: request timed out", "etcdserver: no leader"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// NotStarted marks err as the failure of a request the cluster refused
// before acting on it for a reason that may pass (an exec whose stream was
// never set up because the kubelet or the runtime is restarting): Passing
// reports it, so it is waited out like an unreachable API server.
func NotStarted(err error) error { return &notStarted{err} }

type notStarted struct{ err error }

func (e *notStarted) Error() string { return e.err.Error() }
func (e *notStarted) Unwrap() error { return e.err }

// Until is when a request started at start stops waiting for the API
// server: its context's deadline, or DefaultBound after start.
func Until(ctx context.Context, start time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return start.Add(DefaultBound)
}

// Wait is the pause before try n+1: FirstWait doubling up to MaxWait,
// spread by ±20 % so that many clients do not come back at once.
func Wait(n int) time.Duration {
	d := FirstWait << min(n-1, 8)
	d = min(d, MaxWait)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// retryAfter is a 429's or 503's Retry-After, at most 10 s.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, 10*time.Second)
}

// rewind is req ready to be sent again (its body from the start).
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return r, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("request body cannot be sent again")
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r.Body = b
	return r, nil
}
