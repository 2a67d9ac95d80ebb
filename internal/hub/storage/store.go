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

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// MaxBlobSize bounds one blob, in bytes; 0: no bound.
	MaxBlobSize int64
	// Quota bounds what each namespace stores (the distinct blobs its
	// repositories link), in bytes; 0: no quota.
	Quota int64
	// MaxUploads bounds the uploads one user (or, without accounts, one
	// client address) has in progress at once; 0: no bound.
	MaxUploads int
	// LeaseTTL is how long a claim on an upload or a blob holds unless its
	// holder renews it: a writer or collector that is gone frees what it
	// held this soon after. Default 30s.
	LeaseTTL time.Duration
	// Grace is how long a blob that no manifest refers to stays, so that a
	// push can upload its layers before its manifest. Default 1h.
	Grace time.Duration
	// UploadMaxAge is how long an upload may sit untouched before it is
	// reaped as abandoned. Default 24h.
	UploadMaxAge time.Duration
	// Redirect makes blob GETs a redirect to the object store, for drivers
	// that can (a Redirector); others serve the bytes as always.
	Redirect bool
	// Collected, if set, is told of every collection this Store ran (metrics).
	Collected func(GCReport, error)
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
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 30 * time.Second
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

// RedirectTTL is how long a redirect's URL stays valid: long enough for a
// client to start the download, short enough that a URL passed on is soon
// worthless.
const RedirectTTL = 10 * time.Minute

// Redirector is a Driver whose blobs clients can fetch from the store itself.
type Redirector interface {
	// URL returns a URL that serves blob d's content until ttl has passed.
	URL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error)
}

// RedirectURL returns where a client may fetch a blob of repo straight
// from the object store, or "" when the store serves blobs itself.
func (s *Store) RedirectURL(ctx context.Context, repo string, d digest.Digest) (string, error) {
	r, ok := s.driver.(Redirector)
	if !s.opts.Redirect || !ok {
		return "", nil
	}
	if _, err := s.meta.RepoBlob(ctx, repo, d); err != nil {
		return "", err
	}
	return r.URL(ctx, d, RedirectTTL)
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
	state, err := s.meta.LinkBlob(ctx, repo, d, s.opts.Now(), s.opts.Quota)
	return state == meta.BlobLive, err
}

// Unlink removes a blob from repo; its content goes at the next collection
// if nothing else links it.
func (s *Store) Unlink(ctx context.Context, repo string, d digest.Digest) error {
	return s.meta.UnlinkBlob(ctx, repo, d)
}

// Usage is what namespace ns stores and may store (0: no quota).
func (s *Store) Usage(ctx context.Context, ns string) (used, quota int64, err error) {
	used, err = s.meta.NamespaceUsage(ctx, ns)
	return used, s.opts.Quota, err
}

// underQuota refuses an upload into a namespace that is full already.
func (s *Store) underQuota(ctx context.Context, repo string) error {
	if s.opts.Quota <= 0 {
		return nil
	}
	ns := meta.Namespace(repo)
	used, err := s.meta.NamespaceUsage(ctx, ns)
	if err == nil && used >= s.opts.Quota {
		err = &meta.QuotaError{Namespace: ns, Used: used, Quota: s.opts.Quota}
	}
	return err
}

// publish makes staged content, verified as d, blob d of repo, and
// forgets w's upload. A live blob is linked (the staged copy goes). Otherwise w reserves the record,
// commits the content (over anything under d) and publishes it; a writer
// that took the reservation over meanwhile commits the same bytes, so w
// then goes round and links or publishes again. It waits while the
// collector deletes d.
func (s *Store) publish(ctx context.Context, repo string, d digest.Digest, size int64, st Staged, w *writer) error {
	committed := false
	defer func() {
		if !committed {
			st.Close()
		}
	}()
	wait := time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		now := s.opts.Now()
		lease := meta.Lease{Holder: w.holder, Until: now.Add(s.opts.LeaseTTL)}
		state, err := s.meta.LinkOrReserve(ctx, repo, d, size, now, lease, s.opts.Quota)
		if err != nil || state == meta.BlobLive {
			return err
		}
		if state == meta.BlobAbsent { // reserved: the content is ours to commit
			w.reserved(d)
			if err := s.commit(ctx, d, size, st, w, &committed); err != nil {
				s.meta.ReleaseBlob(context.WithoutCancel(ctx), d, w.holder)
				return err
			}
			err := s.meta.PublishBlob(ctx, repo, d, w.holder, w.id, now, s.opts.Quota)
			if !errdefs.IsConflict(err) {
				if err != nil {
					s.meta.ReleaseBlob(context.WithoutCancel(ctx), d, w.holder)
				} else {
					w.ended() // the upload went with the publication
				}
				return err
			}
		}
		// Another writer took the reservation over, or the collector is
		// removing the blob: go round.
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

// commit puts the staged content in place as d, once; a second time
// round it checks that what it committed is still there.
func (s *Store) commit(ctx context.Context, d digest.Digest, size int64, st Staged, w *writer, committed *bool) error {
	if *committed {
		if n, err := s.driver.Stat(ctx, d); err != nil || n != size {
			return fmt.Errorf("blob %s: what this upload committed was collected meanwhile: upload it again: %w", d, errdefs.ErrUnavailable)
		}
		return nil
	}
	if err := w.check(); err != nil {
		return err
	}
	*committed = true
	return st.Commit(ctx, d)
}
