package storage

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// ErrLeaseLost is a writer that lost its lease (its renewals failed for
// longer than the lease lasts) and so stopped writing: someone else may
// hold what it held.
var ErrLeaseLost = fmt.Errorf("the lease on this upload was lost: %w", errdefs.ErrConflict)

// writer is one request's hold on an upload, and on the blob it commits:
// leases in meta, renewed in the background while it works. Every write
// it lets through happens while its lease holds by this process's clock,
// so a writer that was taken over never writes again.
type writer struct {
	s      *Store
	id     string // the upload
	holder string

	mu    sync.Mutex
	until time.Time     // when the leases lapse unless renewed
	blob  digest.Digest // the blob reserved, "" none
	lost  error

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	settled  bool // the upload's lease ended with its record (or the upload went): nothing to release
}

// hold leases upload id of repo for a new writer and keeps the lease until
// release. The upload's record comes back with it.
func (s *Store) hold(ctx context.Context, repo, id string) (*writer, meta.Upload, error) {
	w := s.newWriter(id)
	now := s.opts.Now()
	u, err := s.meta.LeaseUpload(ctx, repo, id, now, meta.Lease{Holder: w.holder, Until: now.Add(s.opts.LeaseTTL)})
	switch {
	case errdefs.IsNotFound(err):
		return nil, u, ErrUploadUnknown
	case errdefs.IsConflict(err):
		return nil, u, ErrUploadBusy
	case err != nil:
		return nil, u, err
	}
	w.start(now)
	return w, u, nil
}

func (s *Store) newWriter(id string) *writer {
	return &writer{s: s, id: id, holder: newID(), stop: make(chan struct{}), done: make(chan struct{})}
}

// start renews the leases every third of their life until release.
func (w *writer) start(now time.Time) {
	w.until = now.Add(w.s.opts.LeaseTTL)
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.s.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.renew()
			}
		}
	}()
}

func (w *writer) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.LeaseTTL/3)
	defer cancel()
	now := w.s.opts.Now()
	l := meta.Lease{Holder: w.holder, Until: now.Add(w.s.opts.LeaseTTL)}
	_, err := w.s.meta.LeaseUpload(ctx, "", w.id, now, l)
	w.mu.Lock()
	blob := w.blob
	w.mu.Unlock()
	if err == nil && blob != "" {
		err = w.s.meta.RenewBlob(ctx, blob, l)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.until = l.Until
	case errdefs.IsConflict(err) || errdefs.IsNotFound(err):
		w.lost = ErrLeaseLost // taken over, or the upload is gone: for good
	}
	// Other errors (the store is slow or away) are retried at the next
	// tick; writes stop by themselves once the lease runs out.
}

// check says whether the writer may still write.
func (w *writer) check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost != nil {
		return w.lost
	}
	if !w.s.opts.Now().Before(w.until) {
		return ErrLeaseLost
	}
	return nil
}

// reserved tells the writer to renew blob d's reservation too.
func (w *writer) reserved(d digest.Digest) {
	w.mu.Lock()
	w.blob = d
	w.mu.Unlock()
}

// release stops renewing and gives the upload's lease up, unless its
// record already ended it or the upload is gone.
func (w *writer) release() {
	w.stopRenewing()
	if !w.settled {
		w.s.meta.ReleaseUpload(context.Background(), w.id, w.holder)
	}
}

func (w *writer) stopRenewing() {
	w.stopOnce.Do(func() {
		close(w.stop)
		<-w.done
	})
}

// settle stops renewing before a record that ends the lease (a renewal
// after it would take the lease again), and says whether the lease still
// holds to make it.
func (w *writer) settle() error {
	w.stopRenewing()
	return w.check()
}

// forget deletes the writer's upload record (its bytes became a blob, or
// are dropped).
func (w *writer) forget(ctx context.Context) error {
	if w.settled {
		return nil
	}
	err := w.s.meta.DeleteUpload(context.WithoutCancel(ctx), w.id, w.holder)
	if err == nil {
		w.ended()
	}
	return err
}

// ended notes that the writer's lease ended with a record of the upload,
// or with the upload.
func (w *writer) ended() { w.settled = true }

// fenced passes writes to wr only while the writer's lease holds.
type fenced struct {
	w  *writer
	wr io.Writer
}

func (f fenced) Write(p []byte) (int, error) {
	if err := f.w.check(); err != nil {
		return 0, err
	}
	return f.wr.Write(p)
}
