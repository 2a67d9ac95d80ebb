package auth

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/strata-dev/strata/internal/errdefs"
)

// RateLimitError is a sign-in refused because of too many failures.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: try again in %s", e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return errdefs.ErrUnavailable }

// limiter counts failed sign-ins per key (a client address, a user name)
// in token buckets: a burst, then one every interval. Only failures take
// from a bucket, so people who type their password right are never slowed.
type limiter struct {
	burst int
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: burst, every: every, buckets: map[string]*rate.Limiter{}}
}

// blocked returns how long until every key may try again; 0 when they may now.
func (l *limiter) blocked(keys []string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			continue
		}
		if t := b.TokensAt(now); t < 1 {
			wait = max(wait, time.Duration(math.Ceil((1-t)*float64(l.every))))
		}
	}
	return wait
}

// fail takes one try from each key's bucket.
func (l *limiter) fail(keys []string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 100000 { // forget full buckets rather than grow without bound
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
	}
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			b = rate.NewLimiter(rate.Every(l.every), l.burst)
			l.buckets[k] = b
		}
		b.AllowN(now, 1)
	}
}
