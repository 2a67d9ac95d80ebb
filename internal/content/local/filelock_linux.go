package local

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// FileLock is an advisory lock (flock) on a file, held by this process until
// Unlock. Locks are per open file, so two FileLocks in one process exclude
// each other as two processes do.
type FileLock struct{ f *os.File }

// LockFile locks path, creating it when missing. exclusive asks for a write
// lock, else a shared one; wait blocks until it is granted, else a lock that
// is held gives errdefs.ErrUnavailable at once.
func LockFile(path string, exclusive, wait bool) (*FileLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		how := unix.LOCK_SH
		if exclusive {
			how = unix.LOCK_EX
		}
		if !wait {
			how |= unix.LOCK_NB
		}
		if err := flock(f, how); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is locked by another writer: %w", path, errdefs.ErrUnavailable)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// Whoever held the lock before may have removed the file: then this
		// lock guards nothing, and the file must be opened again.
		if same(f, path) {
			return &FileLock{f: f}, nil
		}
		f.Close()
	}
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// Unlock releases the lock.
func (l *FileLock) Unlock() error { return l.f.Close() }

// syncDir makes a rename or unlink in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
