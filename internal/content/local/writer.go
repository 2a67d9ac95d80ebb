package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
)

// writer is an open ingest: its data file, the running digest of what is in
// it, and the lock that makes it the ref's only writer.
type writer struct {
	s      *Store
	dir    string
	lock   *FileLock
	f      *os.File
	alg    digest.Algorithm
	h      hash.Hash
	offset int64
	meta   ingestMeta
}

// Writer opens or resumes the ingest ref.
func (s *Store) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (content.Writer, error) {
	if ref == "" {
		return nil, fmt.Errorf("an ingest needs a ref: %w", errdefs.ErrInvalidArgument)
	}
	if desc.Digest != "" {
		if _, err := s.Info(ctx, desc.Digest); err == nil {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdefs.ErrAlreadyExists)
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	dir := s.ingestDir(ref)
	var lock *FileLock
	var err error
	for try := 0; try < 3; try++ { // an Abort elsewhere may remove dir under us
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		lock, err = LockFile(filepath.Join(dir, "lock"), true, false)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ingest %q: %w", ref, err)
	}
	w, err := s.openIngest(dir, ref, desc)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	w.lock = lock
	return w, nil
}

// openIngest opens the data file of a locked ingest, rehashing what an earlier
// writer left in it.
func (s *Store) openIngest(dir, ref string, desc ocispec.Descriptor) (*writer, error) {
	w := &writer{s: s, dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err == nil && json.Unmarshal(b, &w.meta) != nil {
		// Torn by a crash while it was written (it is not synced): the
		// ingest starts over, its data too, which was never synced either.
		w.meta = ingestMeta{}
		if err = os.Remove(filepath.Join(dir, "data")); err == nil || errors.Is(err, fs.ErrNotExist) {
			err = fs.ErrNotExist
		}
	}
	switch {
	case err == nil:
		if (desc.Digest != "" && w.meta.Expected != "" && desc.Digest != w.meta.Expected) ||
			(desc.Size > 0 && w.meta.Total > 0 && desc.Size != w.meta.Total) {
			return nil, fmt.Errorf("ingest %q was started for %s (%d bytes), not %s (%d bytes): abort it first: %w",
				ref, w.meta.Expected, w.meta.Total, desc.Digest, desc.Size, errdefs.ErrConflict)
		}
	case errors.Is(err, fs.ErrNotExist):
		w.meta = ingestMeta{Ref: ref, Total: desc.Size, Expected: desc.Digest, StartedAt: time.Now().UTC()}
		if err := writeStatus(filepath.Join(dir, "status.json"), w.meta); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if w.meta.Expected == "" {
		w.meta.Expected = desc.Digest
	}
	if w.meta.Total == 0 {
		w.meta.Total = desc.Size
	}
	w.alg = digest.Canonical
	if w.meta.Expected != "" {
		if err := w.meta.Expected.Validate(); err != nil {
			return nil, fmt.Errorf("expected digest %q: %v: %w", w.meta.Expected, err, errdefs.ErrInvalidArgument)
		}
		w.alg = w.meta.Expected.Algorithm()
	}
	w.h = w.alg.Hash()
	if w.f, err = os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return nil, err
	}
	if w.offset, err = io.Copy(w.h, w.f); err != nil { // resume: the hash must cover what is there
		w.f.Close()
		return nil, fmt.Errorf("ingest %q: reread: %w", ref, err)
	}
	return w, nil
}

// writeStatus writes an ingest's status.json, unsynced: it only serves to
// resume the ingest, whose data is not synced before Commit either (and
// is checked against its digest there); a crash that loses the status
// leaves an ingest that starts over. Syncing it cost every blob one more
// flush of the disk.
func writeStatus(path string, m ingestMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (w *writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("ingest %q is closed", w.meta.Ref)
	}
	if w.meta.Total > 0 && w.offset+int64(len(p)) > w.meta.Total {
		return 0, fmt.Errorf("ingest %q: more than the %d bytes expected: %w", w.meta.Ref, w.meta.Total, errdefs.ErrInvalidArgument)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	return n, err
}

func (w *writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }

func (w *writer) Status() (content.Status, error) {
	return content.Status{Ref: w.meta.Ref, Offset: w.offset, Total: w.meta.Total, Expected: w.meta.Expected,
		StartedAt: w.meta.StartedAt, UpdatedAt: time.Now().UTC()}, nil
}

func (w *writer) Truncate(size int64) error {
	if size != 0 {
		return fmt.Errorf("ingest %q: truncate to %d: only 0 is supported: %w", w.meta.Ref, size, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.h.Reset()
	w.offset = 0
	return nil
}

// Close keeps the ingest for a later Writer to resume.
func (w *writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if uerr := w.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// Commit verifies, syncs and publishes the blob. On a mismatch the ingest is
// discarded: its bytes are not what anyone asked for.
func (w *writer) Commit(ctx context.Context, size int64, expected digest.Digest) error {
	if w.f == nil {
		return fmt.Errorf("ingest %q is closed", w.meta.Ref)
	}
	dgst := w.Digest()
	var bad error
	switch {
	case size > 0 && w.offset != size:
		bad = fmt.Errorf("blob is %d bytes, expected %d", w.offset, size)
	case w.meta.Total > 0 && w.offset != w.meta.Total:
		bad = fmt.Errorf("blob is %d bytes, expected %d", w.offset, w.meta.Total)
	case expected != "" && dgst != expected:
		bad = fmt.Errorf("content has digest %s, expected %s", dgst, expected)
	case w.meta.Expected != "" && dgst != w.meta.Expected:
		bad = fmt.Errorf("content has digest %s, expected %s", dgst, w.meta.Expected)
	}
	if bad != nil {
		w.discard()
		return fmt.Errorf("ingest %q: %v: %w", w.meta.Ref, bad, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	target, err := w.s.BlobPath(dgst)
	if err != nil {
		return err
	}
	if _, err := os.Stat(target); err == nil {
		w.discard()
		return fmt.Errorf("blob %s: %w", dgst, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(w.dir, "data"), target); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return err
	}
	w.discard()
	return nil
}

// discard closes the writer and removes its ingest while still holding the lock.
func (w *writer) discard() {
	w.f.Close()
	w.f = nil
	os.RemoveAll(w.dir)
	w.lock.Unlock()
}
