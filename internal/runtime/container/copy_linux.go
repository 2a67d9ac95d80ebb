package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
)

// withFiles calls fn with the container's root file system: for a running
// container, as its first process sees it (/proc/PID/root: paths under it
// resolve in the container's mount namespace, so its volumes and tmpfs
// mounts are there, as for docker cp); else its writable snapshot mounted
// privately.
func (m *Manager) withFiles(ctx context.Context, c Container, fn func(root string) error) error {
	if c.Running() {
		if pid, err := readPid(runtime.PidFile(m.dir(c.ID))); err == nil {
			return fn(fmt.Sprintf("/proc/%d/root", pid))
		}
		return fn(filepath.Join(m.dir(c.ID), "rootfs"))
	}
	mounts, err := m.sn.Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return err
	}
	return snapshot.WithTempMount(ctx, m.sn, mounts, fn)
}

// CopyOut writes the container's file or directory src as a tar to w, its
// top entry named name ("" for a directory's contents alone; "." for
// src's own base name). Symlinks on the way resolve inside the container.
func (m *Manager) CopyOut(ctx context.Context, ref, src, name string, w io.Writer) error {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return err
	}
	return m.withFiles(ctx, c, func(root string) error {
		rel, err := runtime.ResolveInRoot(root, src)
		if err != nil {
			return err
		}
		if name == "." {
			name = path.Base("/" + rel)
		}
		return archive.WriteTree(ctx, w, root, rel, name)
	})
}

// CopyIn writes the files of the tar that tarOf gives into the container
// at dst: into dst when it is a directory there (intoDir), else as dst
// (base, the name the tar's top entry must have). Every entry is resolved
// inside the container, so a symlink in it cannot send a file out.
func (m *Manager) CopyIn(ctx context.Context, ref, dst string, _ io.Reader, tarOf func(intoDir bool, base string) io.Reader) error {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return err
	}
	return m.withFiles(ctx, c, func(root string) error {
		dir, base := dst, ""
		rel, err := runtime.ResolveInRoot(root, dst)
		switch {
		case err == nil:
			st, serr := os.Stat(filepath.Join(root, rel))
			if serr != nil {
				return serr
			}
			if !st.IsDir() {
				dir, base = path.Dir(dst), path.Base(dst)
			}
		case errors.Is(err, fs.ErrNotExist):
			dir, base = path.Dir(dst), path.Base(dst)
		default:
			return err
		}
		dirRel, err := runtime.ResolveInRoot(root, dir)
		if err != nil {
			return err
		}
		sub := filepath.Join(root, dirRel)
		if !strings.HasPrefix(sub, root) {
			return fs.ErrInvalid
		}
		return archive.ApplyFiles(ctx, sub, tarOf(base == "", base))
	})
}
