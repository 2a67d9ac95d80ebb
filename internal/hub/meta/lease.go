package meta

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// ErrLeaseHeld is a job lease another holder holds: the job is running
// elsewhere (on this hub node or another).
var ErrLeaseHeld = fmt.Errorf("the job runs elsewhere: %w", errdefs.ErrConflict)

// ErrLeaseLost is a job that stopped because its lease was lost: another
// holder took it, or renewing it failed until it would have lapsed.
var ErrLeaseLost = fmt.Errorf("the job's lease was lost: %w", errdefs.ErrConflict)

// UnderLease runs fn while a new holder holds the job lease called name,
// renewed every ttl/3 by now's clock, and releases it after: the job runs
// once for a hub, however many nodes start it, and when the node running
// it dies, its lease lapses within ttl and another node may take it over.
// fn gets the holder (to claim records under) and a context that ends when
// the lease is lost; it returns ErrLeaseHeld when another holds the lease.
func UnderLease(ctx context.Context, s Shared, name string, ttl time.Duration, now func() time.Time,
	fn func(ctx context.Context, holder string) error) error {
	holder := rand.Text()
	start := now()
	if err := s.AcquireLease(ctx, name, start, Lease{Holder: holder, Until: start.Add(ttl)}); err != nil {
		if errdefs.IsConflict(err) {
			return fmt.Errorf("%s: %w", name, ErrLeaseHeld)
		}
		return err
	}
	defer s.ReleaseLease(context.WithoutCancel(ctx), name, holder)
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go renewLease(jobCtx, s, name, holder, start.Add(ttl), ttl, now, cancel)
	err := fn(jobCtx, holder)
	if cause := context.Cause(jobCtx); cause == ErrLeaseLost {
		return fmt.Errorf("%s: %w", name, ErrLeaseLost)
	}
	return err
}

// renewLease renews holder's lease until ctx ends, and cancels the job
// with ErrLeaseLost when another holds it, or when renewals failed (the
// database away) so long that it would lapse before the next try.
func renewLease(ctx context.Context, s Shared, name, holder string, until time.Time, ttl time.Duration,
	now func() time.Time, cancel context.CancelCauseFunc) {
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := now()
		err := s.AcquireLease(ctx, name, at, Lease{Holder: holder, Until: at.Add(ttl)})
		switch {
		case err == nil:
			until = at.Add(ttl)
		case ctx.Err() != nil:
			return
		case errdefs.IsConflict(err) || !at.Add(ttl/3).Before(until): // taken, or lapsed before the next try

			cancel(ErrLeaseLost)
			return
		}
	}
}
