package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// GCReport says what a collection removed, or with DryRun what it would.
type GCReport struct {
	DryRun      bool
	Links       int   // unreferenced links dropped from repositories
	Blobs       int   // blobs whose content was deleted
	BlobBytes   int64 // their size
	Uploads     int   // abandoned uploads reaped
	UploadBytes int64
	Orphans     int // content files with no record (left by a crash)
	OrphanBytes int64
}

// Bytes is everything freed.
func (r GCReport) Bytes() int64 { return r.BlobBytes + r.UploadBytes + r.OrphanBytes }

// minOrphanAge is the least age of a content file with no record before it
// is deleted: a commit renames content into place only after reserving its
// record, so a fresh file without one is a race to leave alone.
const minOrphanAge = time.Hour

// ErrCollecting: another collection is running (on this hub node or another).
var ErrCollecting = fmt.Errorf("another garbage collection is running: %w", errdefs.ErrConflict)

// SettingGCFinished is when the hub's last collection ended (RFC 3339), on
// whichever node: see CollectGarbageDue.
const SettingGCFinished = "gc.finished"

// CollectGarbage runs one online collection while pushes and pulls go on,
// one at a time hub-wide, under the lease "gc" in meta (renewed while it
// runs, so that if its node dies another may collect within LeaseTTL):
//
//  1. in one metadata transaction, drop links no manifest refers to that
//     nobody touched for the grace period, and claim the blobs left with
//     no link (and older than the grace period) as deleting, with the
//     pending and deleting ones whose holder's lease lapsed;
//  2. delete the content of every blob claimed, then its record;
//  3. delete content files that have no record and are old;
//  4. reap uploads untouched for UploadMaxAge, and staged data without an upload.
//
// An upload committing a blob that is being deleted waits for step 2 to
// finish and then writes it anew (see publish), so no blob is lost.
func (s *Store) CollectGarbage(ctx context.Context, dryRun bool) (GCReport, error) {
	r, _, err := s.collectUnderLease(ctx, dryRun, -1)
	return r, err
}

// CollectGarbageDue runs a collection unless the hub's last one, on any
// node, ended less than interval ago; ran says whether it did. Nodes
// calling it on their own clocks collect about once per interval between
// them, and never at once.
func (s *Store) CollectGarbageDue(ctx context.Context, interval time.Duration) (r GCReport, ran bool, err error) {
	return s.collectUnderLease(ctx, false, interval)
}

// collectUnderLease collects under the lease "gc", when the last
// collection ended at least interval ago (interval < 0: in any case).
func (s *Store) collectUnderLease(ctx context.Context, dryRun bool, interval time.Duration) (GCReport, bool, error) {
	if dryRun {
		r, err := s.collect(ctx, true, newID())
		return r, true, err
	}
	var r GCReport
	ran := false
	err := meta.UnderLease(ctx, s.meta, "gc", s.opts.LeaseTTL, s.opts.Now, func(ctx context.Context, holder string) error {
		if interval >= 0 {
			last, err := s.meta.Setting(ctx, SettingGCFinished)
			if err != nil {
				return err
			}
			if t, err := time.Parse(time.RFC3339Nano, last); err == nil && s.opts.Now().Before(t.Add(interval)) {
				return nil
			}
		}
		ran = true
		var err error
		if r, err = s.collect(ctx, false, holder); err != nil {
			return err
		}
		return s.meta.SetSetting(ctx, SettingGCFinished, s.opts.Now().UTC().Format(time.RFC3339Nano))
	})
	if errors.Is(err, meta.ErrLeaseHeld) {
		return r, false, ErrCollecting
	}
	if ran && s.opts.Collected != nil {
		s.opts.Collected(r, err)
	}
	return r, ran, err
}

// collect is one collection, claiming what it deletes as holder.
func (s *Store) collect(ctx context.Context, dryRun bool, holder string) (GCReport, error) {
	now := s.opts.Now()
	cutoff := now.Add(-s.opts.Grace)
	r := GCReport{DryRun: dryRun}
	if dryRun {
		g, err := s.meta.FindGarbage(ctx, cutoff)
		if err != nil {
			return r, err
		}
		r.Links = len(g.Links)
		for _, b := range g.Blobs {
			r.Blobs++
			r.BlobBytes += b.Size
		}
	} else {
		g, err := s.meta.CollectGarbage(ctx, now, cutoff, meta.Lease{Holder: holder, Until: now.Add(s.opts.LeaseTTL)})
		if err != nil {
			return r, err
		}
		r.Links = len(g.Links)
		if err := s.deleteClaimed(ctx, holder, g.Blobs, &r); err != nil {
			return r, err
		}
	}
	if err := s.sweepOrphans(ctx, holder, now.Add(-max(s.opts.Grace, minOrphanAge)), dryRun, &r); err != nil {
		return r, err
	}
	err := s.reapUploads(ctx, now, dryRun, &r)
	if err == nil && !dryRun && r.Links+r.Blobs+r.Uploads+r.Orphans > 0 {
		s.opts.Log.Info("garbage collected", "links", r.Links, "blobs", r.Blobs, "uploads", r.Uploads,
			"orphans", r.Orphans, "bytes", r.Bytes())
	}
	return r, err
}

// reapUploads forgets uploads untouched for UploadMaxAge and removes their
// staged data, and staged data of that age that no upload owns (a crash's
// leftovers). A dry run counts the staged data of that age.
func (s *Store) reapUploads(ctx context.Context, now time.Time, dryRun bool, r *GCReport) error {
	before := now.Add(-s.opts.UploadMaxAge)
	if !dryRun {
		reaped, err := s.meta.ReapUploads(ctx, before, now)
		if err != nil {
			return err
		}
		for _, u := range reaped {
			if err := s.driver.RemoveUpload(ctx, u.ID); err != nil {
				return err
			}
			r.Uploads++
			r.UploadBytes += u.Offset
		}
	}
	return s.driver.Uploads(ctx, func(id string, size int64, modified time.Time) error {
		if !modified.Before(before) {
			return nil
		}
		if !dryRun {
			if _, err := s.meta.Upload(ctx, "", id); !errdefs.IsNotFound(err) {
				return err // an upload still owns it (nil), or the store failed
			}
			if err := s.driver.RemoveUpload(ctx, id); err != nil {
				return err
			}
		}
		r.Uploads++
		r.UploadBytes += size
		return nil
	})
}

// deleteClaimed deletes the content, then the record, of blobs this
// collector claimed as deleting, each while its claim still holds.
func (s *Store) deleteClaimed(ctx context.Context, holder string, blobs []meta.Blob, r *GCReport) error {
	for _, b := range blobs {
		now := s.opts.Now()
		err := s.meta.RenewBlob(ctx, b.Digest, meta.Lease{Holder: holder, Until: now.Add(s.opts.LeaseTTL)})
		if errdefs.IsConflict(err) {
			continue // a writer took it over: it is theirs now
		}
		if err != nil {
			return err
		}
		if err := s.driver.Delete(ctx, b.Digest); err != nil {
			return err
		}
		if err := s.meta.ForgetBlob(ctx, b.Digest, holder); err != nil {
			return err
		}
		r.Blobs++
		r.BlobBytes += b.Size
	}
	return nil
}

// sweepOrphans deletes content older than before that has no record.
func (s *Store) sweepOrphans(ctx context.Context, holder string, before time.Time, dryRun bool, r *GCReport) error {
	var orphans []digest.Digest
	err := s.driver.Walk(ctx, func(d digest.Digest, size int64, modified time.Time) error {
		if !modified.Before(before) {
			return nil
		}
		_, err := s.meta.Blob(ctx, d)
		if !errdefs.IsNotFound(err) {
			return err
		}
		orphans = append(orphans, d)
		r.Orphans++
		r.OrphanBytes += size
		return nil
	})
	if err != nil || dryRun {
		return err
	}
	// Claimed through the metadata like any garbage, so that a push of the
	// same digest meanwhile waits instead of losing its content.
	for _, d := range orphans {
		now := s.opts.Now()
		claimed, err := s.meta.ClaimOrphan(ctx, d, 0, now, meta.Lease{Holder: holder, Until: now.Add(s.opts.LeaseTTL)})
		if err != nil {
			return err
		}
		if claimed {
			if err := s.driver.Delete(ctx, d); err != nil {
				return err
			}
			if err := s.meta.ForgetBlob(ctx, d, holder); err != nil {
				return err
			}
		}
	}
	return nil
}
