package hub

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// runBackground starts the hub's background work until ctx ends: the
// garbage collector every cfg.GCInterval, pulls recorded, the scrub,
// webhook deliveries resumed, and the tag policies' retention. Wait on
// the result for them to stop.
func runBackground(ctx context.Context, cfg Config, deps Deps) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); collectEvery(ctx, cfg.GCInterval, deps) }()
	go func() { defer wg.Done(); recordPulls(ctx, deps) }()
	go func() { defer wg.Done(); scrubEvery(ctx, cfg.ScrubInterval, cfg.ScrubRate, deps) }()
	go func() { defer wg.Done(); resumeDeliveries(ctx, deps) }()
	go func() { defer wg.Done(); retainEvery(ctx, cfg, deps) }()
	return &wg
}

// recordPulls records the pulls the node counted every distapi.PullsEvery,
// and once more when ctx ends (the server has drained by then).
func recordPulls(ctx context.Context, deps Deps) {
	t := time.NewTicker(distapi.PullsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := deps.Pulls.Flush(flush); err != nil {
				deps.Log.Error("recording pulls failed", "err", err)
			}
			return
		case <-t.C:
			if err := deps.Pulls.Flush(ctx); err != nil && ctx.Err() == nil {
				deps.Log.Warn("recording pulls failed; they are kept for the next try", "err", err)
			}
		}
	}
}

// collectEvery collects garbage once per interval for the whole hub:
// every node looks as often (at most a minute apart) and one collects
// when the hub's last collection, on whichever node, is interval old.
// If that node dies, its lease lapses and the next node to look takes over.
func collectEvery(ctx context.Context, interval time.Duration, deps Deps) {
	lookEvery(ctx, interval, func() {
		_, _, err := deps.Blobs.CollectGarbageDue(ctx, interval)
		if err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrCollecting) {
			deps.Log.Error("garbage collection failed", "err", err)
		}
	})
}

// lookEvery calls look every interval, or every minute when interval is
// longer (look decides whether its job is due for the hub), until ctx
// ends; never when interval < 0.
func lookEvery(ctx context.Context, interval time.Duration, look func()) {
	if interval < 0 {
		return
	}
	t := time.NewTicker(min(interval, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			look()
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
	return meta.UnderLease(ctx, deps.Meta, "scrub", time.Minute, time.Now, func(ctx context.Context, _ string) error {
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

// resumeDeliveries sends on, every minute, the webhook deliveries whose
// node stopped or crashed before they were done; one node at a time,
// under the lease "webhooks".
func resumeDeliveries(ctx context.Context, deps Deps) {
	holder := "webhooks " + strconv.FormatInt(time.Now().UnixNano(), 36)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
		now := time.Now()
		err := deps.Meta.AcquireLease(ctx, "webhooks", now, meta.Lease{Holder: holder, Until: now.Add(time.Minute)})
		if errdefs.IsConflict(err) {
			continue
		}
		if err == nil {
			_, err = deps.Webhooks.Resume(ctx, 100)
			deps.Meta.ReleaseLease(context.WithoutCancel(ctx), "webhooks", holder)
		}
		if err != nil && ctx.Err() == nil {
			deps.Log.Error("resuming webhook deliveries failed", "err", err)
		}
	}
}

// SettingRetentionFinished is when the hub's last retention run finished (RFC 3339).
const SettingRetentionFinished = "retention.finished"

// retainEvery runs the tag policies' retention once per
// cfg.RetentionInterval for the whole hub: every node looks as often (at
// most a minute apart), and one runs it, under the lease "retention",
// when the last run, on whichever node, is an interval old.
func retainEvery(ctx context.Context, cfg Config, deps Deps) {
	lookEvery(ctx, cfg.RetentionInterval, func() {
		if err := retentionPass(ctx, cfg, deps); err != nil && ctx.Err() == nil && !errdefs.IsConflict(err) {
			deps.Log.Error("retention failed", "err", err)
		}
	})
}

// retentionPass runs retention under the lease "retention" when it is due.
func retentionPass(ctx context.Context, cfg Config, deps Deps) error {
	return meta.UnderLease(ctx, deps.Meta, "retention", time.Minute, time.Now, func(ctx context.Context, _ string) error {
		last, err := deps.Meta.Setting(ctx, SettingRetentionFinished)
		if err != nil {
			return err
		}
		if t, err := time.Parse(time.RFC3339Nano, last); err == nil && time.Since(t) < cfg.withDefaults().RetentionInterval {
			return nil
		}
		plans, res, err := Retention(cfg, deps).Run(ctx, false)
		if deps.Metrics != nil {
			deps.Metrics.RetentionRun(res.Tags, res.Manifests, err)
		}
		if err != nil {
			return err
		}
		if len(plans) > 0 {
			deps.Log.Info("retention deleted tags and manifests", "repositories", len(plans), "tags", res.Tags,
				"manifests", res.Manifests, "skipped", res.Skipped)
		}
		return deps.Meta.SetSetting(ctx, SettingRetentionFinished, time.Now().UTC().Format(time.RFC3339Nano))
	})
}
