package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fakeClock is a clock that moves only when the patience sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

// outageRT refuses connections (as a stopped API server does) until the
// clock reaches back, then answers with answer.
type outageRT struct {
	clock  *fakeClock
	back   time.Time
	fail   func(*http.Request) (*http.Response, error)
	answer func(*http.Request) *http.Response
	tries  int
	bodies []string
}

func (o *outageRT) RoundTrip(req *http.Request) (*http.Response, error) {
	o.tries++
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		o.bodies = append(o.bodies, string(b))
	}
	if o.clock.now().Before(o.back) {
		return o.fail(req)
	}
	return o.answer(req), nil
}

func refused(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "x"}}
}

func refusedErrno(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
}

func dropped(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF }

func status(code int, hdr ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		r := &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r, nil
	}
}

func ok(req *http.Request) *http.Response {
	r, _ := status(200)(req)
	return r
}

func TestPatienceWaitsOutAnOutage(t *testing.T) {
	// In the future: the requests' contexts have real deadlines.
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name     string
		method   string
		outage   time.Duration
		deadline time.Duration // 0: no deadline (DefaultBound)
		fail     func(*http.Request) (*http.Response, error)
		wantOK   bool
		wantDown bool
	}{
		{"refused 8s, GET, 2m task", http.MethodGet, 8 * time.Second, 2 * time.Minute, refusedErrno, true, true},
		{"refused 30s, POST (never sent), 2m task", http.MethodPost, 30 * time.Second, 2 * time.Minute, refused, true, true},
		{"refused 70s, no deadline: DefaultBound", http.MethodGet, 70 * time.Second, 0, refusedErrno, false, true},
		{"refused longer than the task", http.MethodGet, 5 * time.Minute, 2 * time.Minute, refusedErrno, false, true},
		{"dropped after sending, GET: repeated", http.MethodGet, 5 * time.Second, time.Minute, dropped, true, true},
		{"dropped after sending, POST: not repeated", http.MethodPost, 5 * time.Second, time.Minute, dropped, false, false},
		{"503 while starting, POST", http.MethodPost, 10 * time.Second, time.Minute, status(503), true, true},
		{"504, DELETE", http.MethodDelete, 10 * time.Second, time.Minute, status(504), true, true},
		{"504, POST: not repeated", http.MethodPost, 10 * time.Second, time.Minute, status(504), false, false},
		{"refused 0.5s: no note", http.MethodGet, 500 * time.Millisecond, time.Minute, refusedErrno, true, false},
		{"429 with Retry-After, POST", http.MethodPost, 3 * time.Second, time.Minute, status(429, "Retry-After", "1"), true, false},
		{"500 is not waited for", http.MethodGet, 3 * time.Second, time.Minute, status(500), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: start}
			var notes []Outage
			p := &Patience{now: clock.now, sleep: clock.sleep, Notify: func(o Outage) { notes = append(notes, o) }}
			rt := &outageRT{clock: clock, back: start.Add(tc.outage), fail: tc.fail, answer: ok}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tc.deadline))
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, tc.method, "https://api.test/api/v1/namespaces/ns/pods", strings.NewReader(`{"kind":"Pod"}`))
			resp, err := p.Wrap(rt).RoundTrip(req)
			gotOK := err == nil && resp.StatusCode == 200
			if gotOK != tc.wantOK {
				t.Fatalf("after %d tries over %s: resp %v, err %v; want ok=%v", rt.tries, clock.now().Sub(start), resp, err, tc.wantOK)
			}
			if gotOK {
				// Back within MaxWait (plus jitter) of the server's return.
				if late := clock.now().Sub(rt.back); late > MaxWait*6/5 {
					t.Errorf("answered %s after the server came back", late)
				}
				for i, b := range rt.bodies {
					if b != `{"kind":"Pod"}` {
						t.Errorf("try %d sent body %q", i+1, b)
					}
				}
			}
			if !tc.wantDown {
				if len(notes) != 0 {
					t.Errorf("notes %v, want none", notes)
				}
				if past := p.Since(start); gotOK && len(past) != 0 {
					t.Errorf("Since = %+v: a blip is not kept", past)
				}
				return
			}
			// The outage is kept for a task that times out later: over,
			// when the server answered; still on, when it did not.
			past := p.Since(start)
			if len(past) != 1 || !past[0].Since.Equal(start) || past[0].Back.IsZero() != !gotOK {
				t.Errorf("Since(start) = %+v, want the one outage (over: %v)", past, gotOK)
			}
			if gotOK {
				if later := p.Since(clock.now().Add(time.Nanosecond)); len(later) != 0 {
					t.Errorf("Since(after its end) = %+v, want none", later)
				}
			}
			if len(notes) == 0 || !notes[0].Since.Equal(start) || notes[0].Err == nil {
				t.Fatalf("notes %+v, want one saying unreachable since %s", notes, start)
			}
			if gotOK && (len(notes) != 2 || notes[1].Back.IsZero()) {
				t.Errorf("notes %+v, want the outage's end", notes)
			}
			if !gotOK && resp == nil {
				var oe *OutageError
				if !errors.As(err, &oe) || !strings.Contains(err.Error(), "has not answered for") {
					t.Errorf("err %v, want one naming the outage", err)
				}
			}
		})
	}
}

// A request whose context ends while it waits says what it waited for.
func TestPatienceCancelled(t *testing.T) {
	p := &Patience{}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rt := &outageRT{clock: &fakeClock{}, back: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), fail: refusedErrno, answer: ok}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.test/", nil)
	_, err := p.Wrap(rt).RoundTrip(req)
	var oe *OutageError
	if !errors.As(err, &oe) || rt.tries < 2 {
		t.Fatalf("%d tries, err %v; want an OutageError after a few tries", rt.tries, err)
	}
	if o, down := p.Down(); !down || o.Err == nil {
		t.Errorf("Down() = %+v, %v; want the outage still on", o, down)
	}
}

func TestLimiterWaitsUpToTheContextsEnd(t *testing.T) {
	l := newLimiter(2, 1)
	l.Accept()
	// client-go's token bucket fails this at once: the next token comes in
	// 500 ms, past the 100 ms deadline. This one waits and fails only when
	// the deadline is there.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.Wait(ctx); err == nil || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("Wait = %v after %s, want the context's end", err, time.Since(start))
	}
	// The token given back is there for the next request.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if err := l.Wait(ctx2); err != nil {
		t.Fatalf("Wait with time left = %v", err)
	}
}

// Through a clientset: an API server that answers 503 (starting) and 429
// (throttling) before it answers.
func TestPatienceThroughClientset(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1, 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case 3:
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns"}}`)
	}))
	defer srv.Close()
	var notes []Outage
	p := &Patience{Notify: func(o Outage) { notes = append(notes, o) }}
	cfg := &rest.Config{Host: srv.URL}
	cfg.Wrap(p.Wrap)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pod, err := cs.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	if err != nil || pod.Name != "p" {
		t.Fatalf("Get = %v, %v", pod, err)
	}
	// Two 503s and a 429 pass within NoteAfter: no outage worth a line.
	if len(notes) != 0 {
		t.Errorf("notes %+v, want none for a blip", notes)
	}
}

// A round tripper that changes the request it sends, as client-go's
// WebSocket one does (https becomes wss in place), does not spoil the
// next try: each starts from the request as the caller made it.
func TestPatienceRetriesTheCallersRequest(t *testing.T) {
	start := time.Now().Add(time.Hour)
	clock := &fakeClock{t: start}
	p := &Patience{now: clock.now, sleep: clock.sleep}
	var schemes []string
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		schemes = append(schemes, req.URL.Scheme)
		if req.URL.Scheme != "https" {
			return nil, fmt.Errorf("unknown url scheme: %s", req.URL.Scheme)
		}
		req.URL.Scheme = "wss"
		if len(schemes) == 1 {
			return status(503)(req)
		}
		return ok(req), nil
	})
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(time.Minute))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://api.test/api/v1/namespaces/ns/pods/p/exec", nil)
	req.Header.Set("Upgrade", "websocket")
	resp, err := p.Wrap(rt).RoundTrip(req)
	if err != nil || resp.StatusCode != 200 || strings.Join(schemes, ",") != "https,https" {
		t.Fatalf("resp %v, err %v, schemes sent %v; want a second try over https", resp, err, schemes)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
