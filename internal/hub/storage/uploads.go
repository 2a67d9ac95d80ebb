package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Upload is an upload session: its bytes so far, in a repository.
type Upload struct {
	ID        string
	Repo      string
	Offset    int64 // bytes received
	StartedAt time.Time
}

func fromMeta(u meta.Upload) Upload {
	return Upload{ID: u.ID, Repo: u.Repo, Offset: u.Offset, StartedAt: u.StartedAt}
}

// RangeError is a chunk that does not start where the upload ends.
type RangeError struct{ Offset int64 }

func (e *RangeError) Error() string {
	return fmt.Sprintf("chunk out of order: the upload has %d bytes, so the next chunk must start at %d", e.Offset, e.Offset)
}

// DigestError is content that does not match the digest it was given as.
type DigestError struct{ Want, Got digest.Digest }

func (e *DigestError) Error() string {
	return fmt.Sprintf("content is %s, not %s", e.Got, e.Want)
}

// TooLargeError is a blob larger than the hub takes.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the blob is larger than this hub's limit of %d bytes", e.Limit)
}

func (e *TooLargeError) Unwrap() error { return errdefs.ErrInvalidArgument }

var (
	// ErrUploadUnknown: no such upload in that repository.
	ErrUploadUnknown = fmt.Errorf("upload unknown: %w", errdefs.ErrNotFound)
	// ErrUploadBusy: another request is writing to the upload right now.
	ErrUploadBusy = fmt.Errorf("another request is writing to this upload: send one chunk at a time: %w", errdefs.ErrConflict)
)

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// StartUpload begins an upload session in repo for owner (a user, or a
// client's address), within the owner's limit of uploads at once and the
// namespace's quota.
func (s *Store) StartUpload(ctx context.Context, repo, owner string) (Upload, error) {
	if err := s.underQuota(ctx, repo); err != nil {
		return Upload{}, err
	}
	now := s.opts.Now()
	u := meta.Upload{ID: newID(), Repo: repo, Owner: owner, StartedAt: now, UpdatedAt: now}
	if err := s.meta.CreateUpload(ctx, u, s.opts.MaxUploads, now.Add(-uploadIdle)); err != nil {
		return Upload{}, err
	}
	return fromMeta(u), nil
}

// uploadIdle is how long an upload may sit untouched before it stops
// counting against its owner's uploads at once (it is reaped after
// UploadMaxAge).
const uploadIdle = 10 * time.Minute

// Status returns an upload of repo.
func (s *Store) Status(ctx context.Context, repo, id string) (Upload, error) {
	u, err := s.meta.Upload(ctx, repo, id)
	if errdefs.IsNotFound(err) {
		return Upload{ID: id, Repo: repo}, ErrUploadUnknown
	}
	return fromMeta(u), err
}

// Append adds a chunk to an upload. start is where the client says the
// chunk begins (-1: not said); a chunk that does not begin where the upload
// ends is a *RangeError. Only one request writes an upload at a time
// (ErrUploadBusy for another). What arrived is recorded even when the body
// breaks off, so the client can resume from there; the record and the end
// of the request's lease are one transaction.
func (s *Store) Append(ctx context.Context, repo, id string, start int64, body io.Reader) (Upload, error) {
	w, mu, err := s.hold(ctx, repo, id)
	if err != nil {
		return Upload{ID: id, Repo: repo}, err
	}
	defer w.release()
	u := fromMeta(mu)
	if start >= 0 && start != u.Offset {
		return u, &RangeError{Offset: u.Offset}
	}
	if sp, h, ok, err := s.inline(ctx, mu); err != nil || ok {
		if err != nil {
			return u, err
		}
		// The bytes wait in the record while they fit there.
		_, copyErr := copyChunks(fenced{w, sp}, body, h, s.room(u.Offset))
		if sp.staged == nil {
			return s.record(ctx, w, u, int64(len(sp.buf)), nil, sp.buf, h, copyErr)
		}
		return s.closeAndRecord(ctx, w, u, sp.staged, h, copyErr)
	}
	staged, h, err := s.stage(ctx, mu)
	if err != nil {
		return u, err
	}
	_, copyErr := copyChunks(fenced{w, staged}, body, h, s.room(u.Offset))
	return s.closeAndRecord(ctx, w, u, staged, h, copyErr)
}

// inline returns a spill for upload u's next chunk when its bytes so far
// are in its record (or it has none yet) and may stay there: the driver
// commits exactly what was written, and keeps a running hash.
func (s *Store) inline(ctx context.Context, u meta.Upload) (*spill, hash.Hash, bool, error) {
	st, h, err := s.recorded(u)
	if err != nil || h == nil || st.Driver != nil || (u.Offset > 0 && st.Inline == nil) {
		return nil, nil, false, err
	}
	sp := &spill{buf: append(make([]byte, 0, min(inlineMax, 64<<10)), st.Inline...),
		stage: func() (Staged, error) { return s.driver.Stage(ctx, u.ID, 0, nil) }}
	return sp, h, true, nil
}

// closeAndRecord closes what a chunk staged and records it (see record);
// a close that fails records nothing: the client resends from u.Offset.
func (s *Store) closeAndRecord(ctx context.Context, w *writer, u Upload, staged Staged, h hash.Hash, copyErr error) (Upload, error) {
	if err := staged.Close(); err != nil {
		return u, errors.Join(copyErr, err)
	}
	return s.record(ctx, w, u, staged.Size(), staged.State(), nil, h, copyErr)
}

// record records an upload's new offset with its state (the driver's, or
// the bytes themselves), and the end of the writer's lease, in one
// transaction; what arrived is recorded even when the body broke off
// (copyErr), so the client can resume from there.
func (s *Store) record(ctx context.Context, w *writer, u Upload, size int64, driver, inline []byte, h hash.Hash, copyErr error) (Upload, error) {
	state, err := encodeState(driver, inline, h)
	if err != nil {
		return u, err
	}
	if err := w.settle(); err != nil {
		return u, err
	}
	if err := s.meta.UpdateUpload(context.WithoutCancel(ctx), u.ID, w.holder, size, state, s.opts.Now()); err != nil {
		return u, err
	}
	w.ended()
	u.Offset = size
	return u, copyErr
}

// room is how many more bytes an upload holding offset may take.
func (s *Store) room(offset int64) int64 {
	if s.opts.MaxBlobSize <= 0 {
		return -1
	}
	return max(s.opts.MaxBlobSize-offset, 0)
}

// Finish appends a last chunk (body may be nil), checks that the staged
// bytes, exactly as they will be committed, hash to d, and publishes them
// as blob d of repo. On a mismatch the upload is dropped and a
// *DigestError returned. With a driver that commits exactly what was
// written, the hash kept while the bytes streamed in is that hash; with
// another, or a digest of another algorithm, the staged bytes are read back.
func (s *Store) Finish(ctx context.Context, repo, id string, start int64, body io.Reader, d digest.Digest) (int64, error) {
	if !d.Algorithm().Available() {
		return 0, fmt.Errorf("digest algorithm %q: %w", d.Algorithm(), errdefs.ErrInvalidArgument)
	}
	w, u, err := s.hold(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	defer w.release()
	if start >= 0 && start != u.Offset {
		return 0, &RangeError{Offset: u.Offset}
	}
	staged, h, err := s.stage(ctx, u) // cuts off bytes no one recorded
	if err != nil {
		return 0, err
	}
	if body != nil {
		if _, err := copyChunks(fenced{w, staged}, body, h, s.room(u.Offset)); err != nil {
			staged.Close()
			return 0, err
		}
	}
	size := staged.Size()
	var got digest.Digest
	if h != nil && d.Algorithm() == runningHash {
		got = digest.NewDigest(runningHash, h)
	} else if staged, got, err = s.readBack(ctx, id, staged, d.Algorithm()); err != nil {
		return 0, err
	}
	if got != d {
		staged.Close()
		s.drop(context.WithoutCancel(ctx), w)
		return 0, &DigestError{Want: d, Got: got}
	}
	if err := s.publish(ctx, repo, d, size, staged, w); err != nil {
		s.drop(context.WithoutCancel(ctx), w)
		return 0, err
	}
	return size, w.forget(ctx)
}

// readBack hashes what is staged, exactly as it will be committed, and
// stages it again to commit it. The data is closed first, so that a driver
// that buffers (object storage) has written all of it.
func (s *Store) readBack(ctx context.Context, id string, staged Staged, alg digest.Algorithm) (Staged, digest.Digest, error) {
	size := staged.Size()
	if err := staged.Close(); err != nil {
		return nil, "", err
	}
	rc, state, err := s.driver.ReadStaged(ctx, id, staged.State())
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	h := alg.Hash()
	n, err := io.Copy(h, io.LimitReader(rc, size))
	if err == nil && n != size {
		err = fmt.Errorf("upload %s has %d bytes staged, not the %d recorded: %w", id, n, size, errdefs.ErrConflict)
	}
	if err != nil {
		return nil, "", err
	}
	staged, err = s.driver.Stage(ctx, id, size, state)
	return staged, digest.NewDigest(alg, h), err
}

// drop forgets an upload its writer holds, record and data.
func (s *Store) drop(ctx context.Context, w *writer) error {
	if err := w.forget(ctx); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return s.driver.RemoveUpload(ctx, w.id)
}

// Cancel drops an upload, once no request is writing to it.
func (s *Store) Cancel(ctx context.Context, repo, id string) error {
	w, _, err := s.hold(ctx, repo, id)
	if err != nil {
		return err
	}
	defer w.release()
	return s.drop(ctx, w)
}

// Put stores a whole blob in one request (a POST with ?digest=): its bytes
// are hashed with d's algorithm as they are written to an upload no other
// request knows, and published as d. It counts as an upload of owner's
// while it runs.
func (s *Store) Put(ctx context.Context, repo, owner string, d digest.Digest, body io.Reader) (int64, error) {
	if !d.Algorithm().Available() {
		return 0, fmt.Errorf("digest algorithm %q: %w", d.Algorithm(), errdefs.ErrInvalidArgument)
	}
	if err := s.underQuota(ctx, repo); err != nil {
		return 0, err
	}
	now := s.opts.Now()
	w := s.newWriter(newID())
	u := meta.Upload{ID: w.id, Repo: repo, Owner: owner, StartedAt: now, UpdatedAt: now,
		Lease: meta.Lease{Holder: w.holder, Until: now.Add(s.opts.LeaseTTL)}}
	if err := s.meta.CreateUpload(ctx, u, s.opts.MaxUploads, now.Add(-uploadIdle)); err != nil {
		return 0, err
	}
	w.start(now)
	defer w.release()
	staged, err := s.driver.Stage(ctx, w.id, 0, nil)
	if err != nil {
		s.drop(context.WithoutCancel(ctx), w)
		return 0, err
	}
	h := d.Algorithm().Hash()
	_, err = copyChunks(fenced{w, staged}, body, h, s.room(0))
	if got := digest.NewDigest(d.Algorithm(), h); err == nil && got != d {
		err = &DigestError{Want: d, Got: got}
	}
	if err != nil {
		staged.Close()
		s.drop(context.WithoutCancel(ctx), w)
		return 0, err
	}
	size := staged.Size()
	if err := s.publish(ctx, repo, d, size, staged, w); err != nil {
		s.drop(context.WithoutCancel(ctx), w)
		return 0, err
	}
	return size, w.forget(ctx)
}
