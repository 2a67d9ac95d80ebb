// Package local is the content store on a local filesystem.
//
// Layout under the root directory:
//
//	blobs/<alg>/<hex>          a verified blob, named by its digest; never changed
//	ingest/<sha256(ref)>/lock  flock'ed by the one Writer that holds the ref
//	ingest/<sha256(ref)>/data  what has been written so far
//	ingest/<sha256(ref)>/status.json  the ref, expected size and digest, start time
//
// A blob is written to its ingest's data file, verified, fsynced and renamed
// into blobs/, so it appears whole or not at all. Ingests live under the same
// root so that the rename never crosses filesystems.
package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
)

// Store is a content.Store in a directory.
type Store struct{ root string }

var _ content.Store = (*Store)(nil)

// New opens (creating when needed) the content store in root.
func New(root string) (*Store, error) {
	for _, d := range []string{"blobs", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Store{root: root}, nil
}

// BlobPath is where the blob dgst lives, for callers that want the file itself
// (to hand it to another program); it fails for a malformed digest.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) {
	if err := dgst.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", dgst, err, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

type blobFile struct {
	*os.File
	size int64
}

func (b blobFile) Size() int64 { return b.size }

// ReaderAt opens a stored blob.
func (s *Store) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	p, err := s.BlobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return blobFile{File: f, size: fi.Size()}, nil
}

// Info describes a stored blob.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (content.Info, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return content.Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return content.Info{}, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
	}
	if err != nil {
		return content.Info{}, err
	}
	return content.Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}, nil
}

// Walk calls fn for each stored blob.
func (s *Store) Walk(ctx context.Context, fn content.WalkFunc) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return err
	}
	for _, alg := range algs {
		entries, err := os.ReadDir(filepath.Join(s.root, "blobs", alg.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			dgst := digest.NewDigestFromEncoded(digest.Algorithm(alg.Name()), e.Name())
			if dgst.Validate() != nil {
				continue // not a blob: nothing strata wrote
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while walking
			}
			if err != nil {
				return err
			}
			if err := fn(content.Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a stored blob.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
	} else if err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// ingestDir is where the ingest ref lives; refs are free text, so hashed.
func (s *Store) ingestDir(ref string) string {
	h := sha256.Sum256([]byte(ref))
	return filepath.Join(s.root, "ingest", hex.EncodeToString(h[:]))
}

// ingestMeta is status.json: what the ingest was opened with.
type ingestMeta struct {
	Ref       string        `json:"ref"`
	Total     int64         `json:"total,omitempty"`
	Expected  digest.Digest `json:"expected,omitempty"`
	StartedAt time.Time     `json:"startedAt"`
}

func readStatus(dir string) (content.Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil {
		return content.Status{}, err
	}
	var m ingestMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return content.Status{}, fmt.Errorf("ingest %s: status.json: %w", dir, err)
	}
	st := content.Status{Ref: m.Ref, Total: m.Total, Expected: m.Expected, StartedAt: m.StartedAt, UpdatedAt: m.StartedAt}
	if fi, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		st.Offset, st.UpdatedAt = fi.Size(), fi.ModTime()
	}
	return st, nil
}

// Status reports the ingest ref.
func (s *Store) Status(ctx context.Context, ref string) (content.Status, error) {
	st, err := readStatus(s.ingestDir(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return content.Status{}, fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
	}
	return st, err
}

// ListStatuses reports every ingest.
func (s *Store) ListStatuses(ctx context.Context) ([]content.Status, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, err
	}
	var out []content.Status
	for _, e := range entries {
		st, err := readStatus(filepath.Join(s.root, "ingest", e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // committed or aborted meanwhile, or not yet set up
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Abort discards the ingest ref; errdefs.ErrUnavailable while a Writer holds it.
func (s *Store) Abort(ctx context.Context, ref string) error {
	dir := s.ingestDir(ref)
	if _, err := os.Stat(filepath.Join(dir, "status.json")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
	}
	lock, err := LockFile(filepath.Join(dir, "lock"), true, false)
	if err != nil {
		return fmt.Errorf("abort ingest %q: %w", ref, err)
	}
	defer lock.Unlock()
	return os.RemoveAll(dir)
}
