package metrics

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Driver returns d with every operation counted (store_operations_total),
// keeping what else d is: a storage.Redirector, a storage.ExactCommitter.
func (m *Metrics) Driver(d storage.Driver) storage.Driver {
	c := countedDriver{d: d, m: m}
	r, redirects := d.(storage.Redirector)
	_, exact := d.(storage.ExactCommitter)
	switch {
	case redirects && exact:
		return exactRedirectingDriver{redirectingDriver{c, r}}
	case redirects:
		return redirectingDriver{c, r}
	case exact:
		return exactDriver{c}
	}
	return c
}

// count records one operation's result.
func (m *Metrics) count(op string, err error) {
	result := "ok"
	switch {
	case errdefs.IsNotFound(err):
		result = "not_found"
	case err != nil:
		result = "error"
	}
	m.storeOps.WithLabelValues(op, result).Inc()
}

type countedDriver struct {
	d storage.Driver
	m *Metrics
}

func (c countedDriver) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := c.d.Stat(ctx, d)
	c.m.count("stat", err)
	return n, err
}

func (c countedDriver) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	rc, err := c.d.Open(ctx, d)
	c.m.count("open", err)
	return rc, err
}

func (c countedDriver) Delete(ctx context.Context, d digest.Digest) error {
	err := c.d.Delete(ctx, d)
	c.m.count("delete", err)
	return err
}

func (c countedDriver) Walk(ctx context.Context, fn func(digest.Digest, int64, time.Time) error) error {
	err := c.d.Walk(ctx, fn)
	c.m.count("walk", err)
	return err
}

func (c countedDriver) Stage(ctx context.Context, id string, offset int64, state []byte) (storage.Staged, error) {
	st, err := c.d.Stage(ctx, id, offset, state)
	c.m.count("stage", err)
	if err != nil {
		return nil, err
	}
	return countedStaged{st, c.m}, nil
}

func (c countedDriver) ReadStaged(ctx context.Context, id string, state []byte) (io.ReadCloser, []byte, error) {
	rc, st, err := c.d.ReadStaged(ctx, id, state)
	c.m.count("read_staged", err)
	return rc, st, err
}

func (c countedDriver) RemoveUpload(ctx context.Context, id string) error {
	err := c.d.RemoveUpload(ctx, id)
	c.m.count("remove_upload", err)
	return err
}

func (c countedDriver) Uploads(ctx context.Context, fn func(string, int64, time.Time) error) error {
	err := c.d.Uploads(ctx, fn)
	c.m.count("uploads", err)
	return err
}

func (c countedDriver) MinChunk() int64 { return c.d.MinChunk() }

// Unwrap is the driver counted.
func (c countedDriver) Unwrap() storage.Driver { return c.d }

type redirectingDriver struct {
	countedDriver
	r storage.Redirector
}

func (c redirectingDriver) URL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error) {
	u, err := c.r.URL(ctx, d, ttl)
	c.m.count("url", err)
	return u, err
}

type exactDriver struct{ countedDriver }

func (exactDriver) CommitsExactly() {}

type exactRedirectingDriver struct{ redirectingDriver }

func (exactRedirectingDriver) CommitsExactly() {}

// countedStaged counts an upload's writes that fail and its commit.
type countedStaged struct {
	storage.Staged
	m *Metrics
}

func (s countedStaged) Write(p []byte) (int, error) {
	n, err := s.Staged.Write(p)
	if err != nil {
		s.m.count("write", err)
	}
	return n, err
}

func (s countedStaged) Commit(ctx context.Context, d digest.Digest) error {
	err := s.Staged.Commit(ctx, d)
	s.m.count("commit", err)
	return err
}
