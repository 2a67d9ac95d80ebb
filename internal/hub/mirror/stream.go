package mirror

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/errcode"
)

// A blob fill streams: the bytes from the upstream go to the hub's
// storage (through storage.Put, which hashes them against the digest) and,
// as they arrive, to a spool file (an unlinked file in Options.SpoolDir) that every
// client asking for the blob meanwhile reads, following the fill as it
// grows. A fill that ends in an error (a digest that does not match, the
// upstream gone mid-blob) ends every follower's read in that error, so
// their responses are cut short, not completed: clients never see a whole
// blob that the hub refused. One fill runs per digest in a process.

// fill is one blob on its way from an upstream.
type fill struct {
	repo string // the repository it is stored into

	mu      sync.Mutex
	cond    *sync.Cond
	spool   *os.File
	n       int64 // bytes in the spool
	started bool  // the first bytes are in: an error before them is the answer
	done    bool
	err     error
	had     bool // the repository had the blob already when the fill began: nothing streams
	refs    int  // the fill itself and its followers; the spool closes with the last
}

func newFill(dir, repo string) (*fill, error) {
	spool, err := os.CreateTemp(dir, "strata-mirror-")
	if err != nil {
		return nil, err
	}
	os.Remove(spool.Name()) // followers read the open file
	f := &fill{repo: repo, spool: spool, refs: 1}
	f.cond = sync.NewCond(&f.mu)
	return f, nil
}

// Write appends to the spool (the fill's only writer) and wakes followers.
func (f *fill) Write(p []byte) (int, error) {
	f.mu.Lock()
	off := f.n
	f.mu.Unlock()
	n, err := f.spool.WriteAt(p, off)
	f.mu.Lock()
	f.n += int64(n)
	f.started = true
	f.cond.Broadcast()
	f.mu.Unlock()
	return n, err
}

func (f *fill) finish(err error) {
	f.mu.Lock()
	f.done, f.err = true, err
	f.cond.Broadcast()
	f.mu.Unlock()
	f.release()
}

func (f *fill) release() {
	f.mu.Lock()
	f.refs--
	last := f.refs == 0
	f.mu.Unlock()
	if last {
		f.spool.Close()
	}
}

// wait blocks until the fill has started streaming or ended, and returns
// its error when it ended in one.
func (f *fill) wait(untilDone bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done && (untilDone || !f.started) {
		f.cond.Wait()
	}
	if f.done {
		return f.err
	}
	return nil
}

// follower reads a fill's spool from the start, as far as it has got.
type follower struct {
	f    *fill
	off  int64
	once sync.Once
}

func (r *follower) Read(p []byte) (int, error) {
	f := r.f
	f.mu.Lock()
	for r.off >= f.n && !f.done {
		f.cond.Wait()
	}
	n, done, err := f.n, f.done, f.err
	f.mu.Unlock()
	if done && err != nil {
		return 0, err
	}
	if r.off >= n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), n-r.off)
	m, rerr := f.spool.ReadAt(p[:k], r.off)
	r.off += int64(m)
	if rerr == io.EOF && m > 0 {
		rerr = nil
	}
	return m, rerr
}

func (r *follower) Close() error {
	r.once.Do(r.f.release)
	return nil
}

// OpenBlob is blob d of t's repository as it arrives from the upstream,
// when the hub lacks it: the caller serves the reader (whose read ends in
// an error if the fill fails). It is nil when the hub has the blob (the
// caller serves it from storage). An upstream that does not have the blob,
// or cannot be reached, is an error before any byte.
func (m *Mirror) OpenBlob(ctx context.Context, t Target, d digest.Digest) (io.ReadCloser, error) {
	return m.blob(ctx, t, d, true)
}

// Blob makes sure t's repository holds blob d, waiting for its fill.
func (m *Mirror) Blob(ctx context.Context, t Target, d digest.Digest) error {
	_, err := m.blob(ctx, t, d, false)
	return err
}

func (m *Mirror) blob(ctx context.Context, t Target, d digest.Digest, follow bool) (io.ReadCloser, error) {
	for range 3 {
		if _, err := m.blobs.Stat(ctx, t.Stored, d); err == nil {
			return nil, nil
		} else if !errdefs.IsNotFound(err) {
			return nil, err
		}
		if m.linkPublic(ctx, t, d) {
			return nil, nil
		}
		f, err := m.join(t, d)
		if err != nil {
			return nil, err
		}
		if f.repo != t.Stored || !follow {
			err := f.wait(true)
			f.release()
			if err != nil {
				return nil, upstreamError(err, errcode.BlobUnknown)
			}
			continue // stored: Stat finds it (or, for another repository, fill ours)
		}
		if err := f.wait(false); err != nil {
			f.release()
			return nil, upstreamError(err, errcode.BlobUnknown)
		}
		f.mu.Lock()
		had := f.had
		f.mu.Unlock()
		if had { // stored by a fill that ended after our Stat: serve it from storage
			f.release()
			continue
		}
		return &follower{f: f}, nil
	}
	return nil, fmt.Errorf("mirror: blob %s: %w", d, errdefs.ErrUnavailable)
}

// join returns the fill of d running in this process, or starts one into
// t's repository; the caller holds a reference to release.
func (m *Mirror) join(t Target, d digest.Digest) (*fill, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.inflight[d]; f != nil {
		f.mu.Lock()
		f.refs++
		f.mu.Unlock()
		return f, nil
	}
	f, err := newFill(m.spool, t.Stored)
	if err != nil {
		return nil, err
	}
	f.refs++ // the caller's
	m.inflight[d] = f
	go m.runFill(t, d, f)
	return f, nil
}

// runFill fetches blob d from the upstream into storage and the spool.
func (m *Mirror) runFill(t Target, d digest.Digest, f *fill) {
	ctx, cancel := context.WithTimeout(context.Background(), fillTimeout)
	defer cancel()
	err := func() error {
		// A fill that ended just before this one began (after its
		// requester looked) stored the blob: no second fetch.
		if _, err := m.blobs.Stat(ctx, t.Stored, d); err == nil {
			f.mu.Lock()
			f.had = true
			f.mu.Unlock()
			return nil
		}
		m.count("blob")
		rc, err := m.reg.FetchBlob(ctx, t.up.Upstream, t.Remote, d)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := m.blobs.Put(ctx, t.Stored, "mirror:"+t.up.Prefix, d, io.TeeReader(rc, f)); err != nil {
			return err
		}
		m.filled(ctx, t.Stored, d)
		return m.guard(ctx, t)
	}()
	if err != nil {
		m.log.Warn("mirror: fetching a blob", "repository", t.Stored, "digest", d, "err", err)
	}
	m.mu.Lock()
	delete(m.inflight, d)
	m.mu.Unlock()
	f.finish(err)
}

// linkPublic links blob d into t's repository from a public repository of
// the hub that has it (anyone may read it there): no fetch.
func (m *Mirror) linkPublic(ctx context.Context, t Target, d digest.Digest) bool {
	holder, err := m.meta.PublicHolder(ctx, d)
	if err != nil || holder == "" {
		return false
	}
	if ok, err := m.blobs.Mount(ctx, t.Stored, holder, d); err != nil || !ok {
		return false
	}
	m.filled(ctx, t.Stored, d)
	return m.guard(ctx, t) == nil
}
