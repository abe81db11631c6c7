package valid

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Finite checks that a number is a number: not NaN, not infinite.
func Finite(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v is not a finite number", f)
	}
	return nil
}

// Duration parses a duration (a Go duration such as 90s, 5m or 1h30m) of 0
// or more.
func Duration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		if strings.HasPrefix(t, "-") {
			if _, err := time.ParseDuration(t[1:]); err == nil {
				return 0, fmt.Errorf("%q is negative: give a duration of 0 or more", s)
			}
		}
		return 0, fmt.Errorf("%q is not a duration such as 90s, 5m or 1h30m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative: give a duration of 0 or more", s)
	}
	return d, nil
}

// Backoff checks a retry policy's waits: the longest wait it can make
// (backoff doubled after each attempt, capped at maxBackoff, stretched by
// jitter) must fit a duration, or the wait would wrap around to a negative
// one and the retries would not wait at all.
func Backoff(backoff, maxBackoff time.Duration, attempts int, jitter float64) error {
	if attempts < 2 || backoff <= 0 {
		return nil
	}
	if maxBackoff > 0 && backoff > maxBackoff {
		return fmt.Errorf("backoff %s is longer than maxBackoff %s (15s unless given): every wait would be maxBackoff; lower backoff or raise maxBackoff", backoff, maxBackoff)
	}
	longest := float64(backoff) * math.Pow(2, float64(attempts-2))
	if maxBackoff > 0 && longest > float64(maxBackoff) {
		longest = float64(maxBackoff)
	}
	longest *= 1 + jitter
	if longest >= math.MaxInt64 {
		return fmt.Errorf("the retry waits would grow to %.3g hours, beyond the longest duration there is (%s): lower backoff, attempts or maxBackoff", longest/float64(time.Hour), time.Duration(math.MaxInt64).Truncate(time.Hour))
	}
	return nil
}

// AtMost checks that a wait within a task (what) fits in the task's
// timeout: a deploy that must stay ready for stableFor cannot succeed in
// a timeout that is not longer.
func AtMost(what string, d, timeout time.Duration) error {
	if timeout > 0 && d >= timeout {
		return fmt.Errorf("%s %s is not shorter than the task's timeout %s: the task would always time out first (lengthen timeout or shorten %s)", what, d, timeout, what)
	}
	return nil
}
