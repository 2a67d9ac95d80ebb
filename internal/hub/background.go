package hub

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// runBackground starts the hub's background work until ctx ends: the
// garbage collector every cfg.GCInterval, and the scrub. Wait on the
// result for them to stop.
func runBackground(ctx context.Context, cfg Config, deps Deps) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); collectEvery(ctx, cfg.GCInterval, deps) }()
	go func() { defer wg.Done(); scrubEvery(ctx, cfg.ScrubInterval, cfg.ScrubRate, deps) }()
	return &wg
}

// collectEvery runs the collector every interval until ctx ends.
func collectEvery(ctx context.Context, interval time.Duration, deps Deps) {
	if interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := deps.Blobs.CollectGarbage(ctx, false)
			if err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrCollecting) {
				deps.Log.Error("garbage collection failed", "err", err)
			}
		}
	}
}

// scrubEvery re-hashes every stored blob once per interval, reading at
// most rate bytes a second, quarantining what is damaged (see
// storage.Scrub). One node scrubs at a time, under the lease "scrub".
func scrubEvery(ctx context.Context, interval time.Duration, rate int64, deps Deps) {
	if interval < 0 {
		return
	}
	for {
		wait, err := scrubDue(ctx, deps.Meta, interval)
		if err == nil && wait <= 0 {
			err = scrubPass(ctx, rate, deps)
			wait = interval
		}
		if err != nil && ctx.Err() == nil && !errdefs.IsConflict(err) {
			deps.Log.Error("scrub failed", "err", err)
		}
		if err != nil {
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, time.Hour)):
		}
	}
}

// scrubDue is how long until the next pass: none while one is under way.
func scrubDue(ctx context.Context, m meta.Store, interval time.Duration) (time.Duration, error) {
	cursor, err := m.Setting(ctx, storage.SettingScrubCursor)
	if err != nil || cursor != "" {
		return 0, err
	}
	last, err := m.Setting(ctx, storage.SettingScrubFinished)
	if err != nil || last == "" {
		return 0, err
	}
	t, err := time.Parse(time.RFC3339, last)
	if err != nil {
		return 0, nil
	}
	return time.Until(t.Add(interval)), nil
}

// scrubPass runs (or goes on with) one pass under the lease "scrub".
func scrubPass(ctx context.Context, rate int64, deps Deps) error {
	return underLease(ctx, deps.Meta, "scrub", func(ctx context.Context) error {
		cursor, err := deps.Meta.Setting(ctx, storage.SettingScrubCursor)
		if err != nil {
			return err
		}
		r, err := deps.Blobs.Scrub(ctx, storage.ScrubOptions{Rate: rate, After: digest.Digest(cursor),
			Progress: func(last digest.Digest) error {
				return deps.Meta.SetSetting(ctx, storage.SettingScrubCursor, last.String())
			}})
		if err != nil || !r.Done {
			return err
		}
		deps.Log.Info("scrub finished", "blobs", r.Blobs, "bytes", r.Bytes, "quarantined", len(r.Damaged))
		for k, v := range map[string]string{storage.SettingScrubCursor: "", storage.SettingScrubFinished: time.Now().UTC().Format(time.RFC3339),
			storage.SettingScrubDamaged: strconv.Itoa(len(r.Damaged))} {
			if err := deps.Meta.SetSetting(ctx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// underLease runs fn while holding the lease called name, renewed in the
// background; fn's context ends if the lease is lost. ErrConflict when
// another holds it.
func underLease(ctx context.Context, m meta.Store, name string, fn func(context.Context) error) error {
	const ttl = time.Minute
	holder := rand.Text()
	if err := m.AcquireLease(ctx, name, time.Now(), meta.Lease{Holder: holder, Until: time.Now().Add(ttl)}); err != nil {
		return err
	}
	defer m.ReleaseLease(context.WithoutCancel(ctx), name, holder)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := time.Now()
				if err := m.AcquireLease(ctx, name, now, meta.Lease{Holder: holder, Until: now.Add(ttl)}); errdefs.IsConflict(err) {
					cancel() // another took it over: stop
					return
				}
			}
		}
	}()
	return fn(ctx)
}
