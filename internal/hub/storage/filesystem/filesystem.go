// Package filesystem is the storage.Driver on a local directory:
//
//	<root>/blobs/<algorithm>/<first two hex>/<hex>   blob content, read-only once there
//	<root>/uploads/<id>                              an upload's bytes so far
//
// (Hubs before metadata schema 3 kept <id>.state beside each upload; the
// collector removes what is left of them.)
//
// A blob appears by rename(2) of a fully written, fsynced upload file, with
// the directory fsynced after, so a crash leaves either nothing or the whole
// blob under its digest.
package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Driver stores blobs under a root directory.
type Driver struct {
	root string
}

var _ storage.Driver = (*Driver)(nil)

// New returns a driver rooted at dir, creating its directories.
func New(dir string) (*Driver, error) {
	for _, sub := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("blob storage: %w", err)
		}
	}
	return &Driver{root: dir}, nil
}

// MinChunk is 64 KiB: every chunk costs a state write, so smaller ones
// would spend more on bookkeeping than on data.
func (*Driver) MinChunk() int64 { return 64 << 10 }

func (d *Driver) blobPath(dg digest.Digest) (string, error) {
	if err := storage.CheckDigest(dg); err != nil {
		return "", err
	}
	enc := dg.Encoded()
	return filepath.Join(d.root, "blobs", dg.Algorithm().String(), enc[:2], enc), nil
}

const stateSuffix = ".state"

// uploadPath is the path of upload id's data, plus suffix.
func (d *Driver) uploadPath(id, suffix string) (string, error) {
	if err := storage.CheckUploadID(id); err != nil {
		return "", err
	}
	return filepath.Join(d.root, "uploads", id+suffix), nil
}

func notFound(err error, what string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	}
	return err
}

// Stat returns the size of a blob.
func (d *Driver) Stat(_ context.Context, dg digest.Digest) (int64, error) {
	p, err := d.blobPath(dg)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(err, "blob "+dg.String())
	}
	return fi.Size(), nil
}

// Open returns the blob's file.
func (d *Driver) Open(_ context.Context, dg digest.Digest) (io.ReadSeekCloser, error) {
	p, err := d.blobPath(dg)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(err, "blob "+dg.String())
	}
	return f, nil
}

// Delete removes a blob.
func (d *Driver) Delete(_ context.Context, dg digest.Digest) error {
	p, err := d.blobPath(dg)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Walk calls fn for every blob file whose path is a valid digest.
func (d *Driver) Walk(ctx context.Context, fn func(digest.Digest, int64, time.Time) error) error {
	base := filepath.Join(d.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		alg, rest, _ := cutPath(rel)
		_, enc, _ := cutPath(rest)
		dg := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
		if dg.Validate() != nil {
			return nil // not ours
		}
		fi, err := e.Info()
		if err != nil {
			return notFoundOK(err)
		}
		return fn(dg, fi.Size(), fi.ModTime())
	})
}

func cutPath(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == filepath.Separator {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func notFoundOK(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// syncDir fsyncs a directory, so that a rename or create in it is durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
