// Package fakeclock lets unit tests step a fake clock once the code under
// test is waiting on it, instead of sleeping and hoping it is.
package fakeclock

import (
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// Timers is a fake clock that sends the length of every timer it makes on
// Set (buffered: the code under test does not wait for the test).
type Timers struct {
	*clocktesting.FakeClock
	Set chan time.Duration
}

// New returns a Timers clock at t.
func New(t time.Time) Timers {
	return Timers{clocktesting.NewFakeClock(t), make(chan time.Duration, 100)}
}

// NewTimer implements clock.Clock.
func (c Timers) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.Set <- d
	return t
}
