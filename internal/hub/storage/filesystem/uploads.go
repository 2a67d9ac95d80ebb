package filesystem

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Stage opens an upload's data file for appending at offset.
func (d *Driver) Stage(_ context.Context, id string, offset int64) (storage.Staged, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return nil, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), flags, 0o644)
	if err != nil {
		return nil, notFound(err, "upload "+id)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() < offset {
		f.Close()
		return nil, fmt.Errorf("upload %s has %d bytes, not the %d its state records: %w", id, fi.Size(), offset, errdefs.ErrConflict)
	}
	if fi.Size() > offset {
		if err := f.Truncate(offset); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &staged{d: d, dir: dir, f: f, size: offset}, nil
}

type staged struct {
	d    *Driver
	dir  string
	f    *os.File
	size int64
}

func (s *staged) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.size += int64(n)
	return n, err
}

// ReadFrom lets io.Copy move request bodies into the file without an extra buffer copy.
func (s *staged) ReadFrom(r io.Reader) (int64, error) {
	n, err := s.f.ReadFrom(r)
	s.size += n
	return n, err
}

func (s *staged) Size() int64 { return s.size }

func (s *staged) Close() error { return s.f.Close() }

// Commit fsyncs the data, renames it to the blob's path, fsyncs that
// directory, and removes the upload.
func (s *staged) Commit(_ context.Context, dg digest.Digest) error {
	p, err := s.d.blobPath(dg)
	if err != nil {
		s.f.Close()
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.f.Close()
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	parent := filepath.Dir(p)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(s.dir, "data"), p); err != nil {
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return os.RemoveAll(s.dir)
}

// ReadStaged reads an upload's data from the start.
func (d *Driver) ReadStaged(_ context.Context, id string) (io.ReadCloser, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "data"))
	if err != nil {
		return nil, notFound(err, "upload "+id)
	}
	return f, nil
}

// PutState writes the state record to a temporary file and renames it into place.
func (d *Driver) PutState(_ context.Context, id string, state []byte) error {
	dir, err := d.uploadDir(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "state.tmp")
	if err := os.WriteFile(tmp, state, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state"))
}

// State returns the state record.
func (d *Driver) State(_ context.Context, id string) ([]byte, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		return nil, notFound(err, "upload "+id)
	}
	return b, nil
}

// RemoveUpload removes an upload's directory.
func (d *Driver) RemoveUpload(_ context.Context, id string) error {
	dir, err := d.uploadDir(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Uploads lists upload directories with the time of their newest file.
func (d *Driver) Uploads(ctx context.Context, fn func(string, int64, time.Time) error) error {
	base := filepath.Join(d.root, "uploads")
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue
		}
		newest, size := time.Time{}, int64(0)
		for _, f := range []string{"", "state", "data"} {
			fi, err := os.Stat(filepath.Join(base, e.Name(), f))
			if err != nil {
				continue
			}
			if fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
			if f == "data" {
				size = fi.Size()
			}
		}
		if err := fn(e.Name(), size, newest); err != nil {
			return err
		}
	}
	return nil
}
