package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Stage opens an upload's data file for appending at offset. The file is
// all the bookkeeping there is: state is not used.
func (d *Driver) Stage(_ context.Context, id string, offset int64, _ []byte) (storage.Staged, error) {
	data, err := d.uploadPath(id, "")
	if err != nil {
		return nil, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(data, flags, 0o644)
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
	return &staged{d: d, id: id, f: f, size: offset}, nil
}

type staged struct {
	d    *Driver
	id   string
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

// State is nil: the file is the state.
func (s *staged) State() []byte { return nil }

func (s *staged) Close() error { return s.f.Close() }

// Commit fsyncs the data, renames it to the blob's path, fsyncs that
// directory, and removes the upload's state.
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
	err = os.Rename(s.f.Name(), p)
	if errors.Is(err, fs.ErrNotExist) { // the first blob of its prefix
		if err = os.MkdirAll(parent, 0o755); err == nil {
			err = os.Rename(s.f.Name(), p)
		}
	}
	if err != nil {
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return nil
}

// ReadStaged reads an upload's data from the start.
func (d *Driver) ReadStaged(_ context.Context, id string, _ []byte) (io.ReadCloser, []byte, error) {
	data, err := d.uploadPath(id, "")
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(data)
	if err != nil {
		return nil, nil, notFound(err, "upload "+id)
	}
	return f, nil, nil
}

// RemoveUpload removes an upload's files (with an old hub's state files).
func (d *Driver) RemoveUpload(_ context.Context, id string) error {
	p, err := d.uploadPath(id, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, suffix := range []string{"", stateSuffix, stateSuffix + ".tmp"} {
		errs = append(errs, notFoundOK(os.Remove(p+suffix)))
	}
	return errors.Join(errs...)
}

// Uploads lists uploads with the size of their data and the time of their
// newest file.
func (d *Driver) Uploads(ctx context.Context, fn func(string, int64, time.Time) error) error {
	entries, err := os.ReadDir(filepath.Join(d.root, "uploads"))
	if err != nil {
		return err
	}
	type upload struct {
		size   int64
		newest time.Time
	}
	found := map[string]*upload{}
	var order []string
	for _, e := range entries {
		id, _, _ := strings.Cut(e.Name(), ".")
		fi, err := e.Info()
		if err != nil || storage.CheckUploadID(id) != nil {
			continue
		}
		u := found[id]
		if u == nil {
			u = &upload{}
			found[id] = u
			order = append(order, id)
		}
		if fi.ModTime().After(u.newest) {
			u.newest = fi.ModTime()
		}
		if e.Name() == id {
			u.size = fi.Size()
		}
	}
	for _, id := range order {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(id, found[id].size, found[id].newest); err != nil {
			return err
		}
	}
	return nil
}
