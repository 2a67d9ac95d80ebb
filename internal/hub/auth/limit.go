package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// RateLimitError is a sign-in refused because of too many failures.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: try again in %s", e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return errdefs.ErrUnavailable }

// knownFor is how long a sign-in from an address makes it known for its user.
const knownFor = 90 * 24 * time.Hour

// Failed sign-ins are counted in meta (so that hub nodes share them), as
// GCRA counters, and an attempt is counted before it is checked: parallel
// attempts cannot slip past the limit while the first is being checked,
// and one that succeeds is given back. The keys are chosen so that nobody
// elsewhere can lock a user out:
//
//   - every attempt counts against the client's address (an IPv6 address
//     by its /64): Failures, then one per FailureEvery;
//   - a password also counts against the user's name, UserFailures at
//     once, but only from an address the user never signed in from: a
//     guesser spread over many addresses is slowed, and the user signs in
//     from their usual places all the same;
//   - access and refresh tokens count against the address only: they are
//     long random secrets nobody guesses, so a user's tokens keep working
//     whatever anyone else tries in their name.
type attempt struct {
	addr string // the client's address
	user string // the user a password is for; "" for tokens
}

// limited runs check unless a key of a is spent, counting it first.
func (s *Service) limited(ctx context.Context, a attempt, check func() (Identity, error)) (Identity, error) {
	now := s.opts.Now()
	addr := access.ClientKey(a.addr)
	keys := []meta.RateKey{{Key: "address " + addr, Burst: s.opts.Failures, Every: s.opts.FailureEvery}}
	known := false
	if a.user != "" {
		var err error
		if known, err = s.meta.KnownAddress(ctx, a.user, addr, now); err != nil {
			return Identity{}, err
		}
		if !known {
			keys = append(keys, meta.RateKey{Key: "user " + a.user, Burst: s.opts.UserFailures, Every: s.opts.FailureEvery})
		}
	}
	wait, err := s.meta.Reserve(ctx, now, keys...)
	if err != nil {
		return Identity{}, err
	}
	if wait > 0 {
		return Identity{}, &RateLimitError{RetryAfter: wait}
	}
	id, err := check()
	if errors.Is(err, ErrBadCredentials) {
		with := "token"
		if a.user != "" {
			with = "password"
		}
		s.opts.Audit.Record(ctx, meta.AuditEvent{Action: meta.AuditSignInFailed, Actor: a.user, Addr: a.addr, Target: a.user,
			Details: map[string]string{"with": with}})
		return id, err // the attempt stays counted
	}
	refundErr := s.meta.Refund(context.WithoutCancel(ctx), now, keys...)
	if err == nil && a.user != "" && !known {
		refundErr = errors.Join(refundErr, s.meta.RememberAddress(context.WithoutCancel(ctx), a.user, addr, now.Add(knownFor)))
	}
	if err == nil && refundErr != nil {
		s.opts.Log.Warn("rate limit bookkeeping failed", "err", refundErr)
	}
	return id, err
}
