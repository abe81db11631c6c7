package kube

import (
	"context"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/flowcontrol"
)

// limiter is client-go's token bucket, except that Wait fails only when
// its context ends, never ahead of time: client-go's own refuses at once a
// wait that would pass the context's deadline ("rate: Wait(n=1) would
// exceed context deadline"), which failed requests that had time left,
// once retries after an outage had spent the burst.
type limiter struct {
	l   *rate.Limiter
	qps float32
}

func newLimiter(qps float32, burst int) flowcontrol.RateLimiter {
	return &limiter{l: rate.NewLimiter(rate.Limit(qps), burst), qps: qps}
}

func (r *limiter) TryAccept() bool { return r.l.Allow() }
func (r *limiter) Accept()         { time.Sleep(r.l.Reserve().Delay()) }
func (r *limiter) Stop()           {}
func (r *limiter) QPS() float32    { return r.qps }

func (r *limiter) Wait(ctx context.Context) error {
	res := r.l.Reserve()
	d := res.Delay()
	if d == 0 {
		return nil
	}
	if err := Sleep(ctx, d); err != nil {
		res.Cancel()
		return err
	}
	return nil
}
