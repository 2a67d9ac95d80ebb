package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// leaseTTL is how long a claim on a blob or an upload holds without being
// renewed: a writer or collector that is gone frees what it held this
// soon after.
const leaseTTL = 30 * time.Second

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// Grace is how long a blob that no manifest refers to stays, so that a
	// push can upload its layers before its manifest. Default 1h.
	Grace time.Duration
	// UploadMaxAge is how long an upload may sit untouched before it is
	// reaped as abandoned. Default 24h.
	UploadMaxAge time.Duration
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Store is the hub's blobs: content in a Driver, records and links in meta.
type Store struct {
	driver Driver
	meta   meta.Store
	opts   Options
}

// New returns a Store over a driver and a metadata store.
func New(d Driver, m meta.Store, opts Options) *Store {
	if opts.Grace <= 0 {
		opts.Grace = time.Hour
	}
	if opts.UploadMaxAge <= 0 {
		opts.UploadMaxAge = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{driver: d, meta: m, opts: opts}
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.opts.Now() }

// Driver returns the store's driver.
func (s *Store) Driver() Driver { return s.driver }

// Stat returns a blob as repo sees it. A client relying on an old link (a
// HEAD before skipping an upload) refreshes it, so the collector leaves it
// for another grace period.
func (s *Store) Stat(ctx context.Context, repo string, d digest.Digest) (meta.Link, error) {
	l, err := s.meta.RepoBlob(ctx, repo, d)
	if err != nil {
		return l, err
	}
	if now := s.opts.Now(); now.Sub(l.TouchedAt) > s.opts.Grace/2 {
		if err := s.meta.TouchLink(ctx, repo, d, now); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Open returns a blob's content as repo sees it, and its size.
func (s *Store) Open(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	l, err := s.meta.RepoBlob(ctx, repo, d)
	if err != nil {
		return nil, 0, err
	}
	rc, err := s.driver.Open(ctx, d)
	if err != nil {
		return nil, 0, fmt.Errorf("blob %s is recorded but its content is missing: %w", d, err)
	}
	return rc, l.Size, nil
}

// Mount links a blob that repository from holds into repo, without
// moving its content. It returns false, nil when from does not hold it.
func (s *Store) Mount(ctx context.Context, repo, from string, d digest.Digest) (bool, error) {
	if _, err := s.meta.RepoBlob(ctx, from, d); err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	state, err := s.meta.LinkBlob(ctx, repo, d, s.opts.Now(), 0)
	return state == meta.BlobLive, err
}

// Unlink removes a blob from repo; its content goes at the next collection
// if nothing else links it.
func (s *Store) Unlink(ctx context.Context, repo string, d digest.Digest) error {
	return s.meta.UnlinkBlob(ctx, repo, d)
}

// publish makes staged content the blob d of repo: it links the stored
// blob if there is one (dropping the staged copy), else reserves the
// record, commits the content, and marks it live. It waits while another
// writer or the collector holds the record.
func (s *Store) publish(ctx context.Context, repo string, d digest.Digest, size int64, st Staged, id string) error {
	committed := false
	defer func() {
		if !committed {
			st.Close()
			s.driver.RemoveUpload(context.WithoutCancel(ctx), id)
		}
	}()
	wait := time.Millisecond
	deadline := time.Now().Add(time.Minute)
	holder := newID()
	for {
		now := s.opts.Now()
		state, err := s.meta.LinkOrReserve(ctx, repo, d, size, now, meta.Lease{Holder: holder, Until: now.Add(leaseTTL)}, 0)
		if err != nil || state == meta.BlobLive {
			return err
		}
		if state == meta.BlobAbsent { // reserved: the content is ours to write
			committed = true
			if err := st.Commit(ctx, d); err != nil {
				s.driver.RemoveUpload(context.WithoutCancel(ctx), id)
				return err // the pending record is collected once its lease lapses
			}
			return s.meta.PublishBlob(ctx, repo, d, holder, now, 0)
		}
		// Another upload is writing this blob, or the collector is removing it.
		if time.Now().After(deadline) {
			return fmt.Errorf("blob %s stayed %s for a minute: %w", d, state, errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
