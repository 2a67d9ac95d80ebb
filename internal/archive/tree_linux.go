package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// tree is a directory that a layer is applied to. Every path is resolved one
// component at a time with O_NOFOLLOW, relative to the root's descriptor, so a
// symlink in the tree (planted by this layer or a lower one) is never
// followed: a write through one is refused instead. That is what keeps a
// hostile layer inside the root, whatever its symlinks point at.
type tree struct {
	root int // O_RDONLY|O_DIRECTORY descriptor of the root
	// A tree that is only read keeps the last directory it opened, since
	// entries come grouped by directory. One that is written must not: a
	// directory may be removed and made anew under the same name.
	cache   bool
	lastDir string
	lastFd  int
}

func openTree(root string) (*tree, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &tree{root: fd, lastFd: -1}, nil
}

// openReadTree opens a tree that will only be read.
func openReadTree(root string) (*tree, error) {
	t, err := openTree(root)
	if err == nil {
		t.cache = true
	}
	return t, err
}

func (t *tree) close() {
	unix.Close(t.root)
	if t.lastFd >= 0 {
		unix.Close(t.lastFd)
	}
}

// throughSymlinkError says that an entry would be written through a symlink.
func throughSymlinkError(entry, link string) error {
	return fmt.Errorf("tar entry %q would be written through the symlink %q; a layer may not write through a symlink: %w",
		entry, link, errdefs.ErrInvalidArgument)
}

// openDir opens the directory at the clean relative path dir ("." for the
// root) without following any symlink. With create, missing directories are
// made (mode 0755, as tar and Docker do for implicit parents). entry names the
// tar entry for errors. The caller closes the returned descriptor.
func (t *tree) openDir(dir, entry string, create bool) (int, error) {
	if t.cache && t.lastFd >= 0 && dir == t.lastDir {
		return unix.Dup(t.lastFd)
	}
	fd, err := t.walkDir(dir, entry, create)
	if err != nil || !t.cache {
		return fd, err
	}
	if t.lastFd >= 0 {
		unix.Close(t.lastFd)
	}
	t.lastDir, t.lastFd = dir, -1
	if t.lastFd, err = unix.Dup(fd); err != nil {
		t.lastFd = -1
	}
	return fd, nil
}

func (t *tree) walkDir(dir, entry string, create bool) (int, error) {
	fd, err := unix.Dup(t.root)
	if err != nil {
		return -1, err
	}
	if dir == "." || dir == "" {
		return fd, nil
	}
	walked := ""
	for _, part := range strings.Split(dir, "/") {
		walked = join(walked, part)
		next, err := openAt(fd, part)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, part, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = openAt(fd, part)
			}
		}
		if err != nil {
			err = componentError(fd, part, walked, entry, err)
			unix.Close(fd)
			return -1, err
		}
		unix.Close(fd)
		fd = next
	}
	return fd, nil
}

// componentError explains why the directory part of fd could not be opened.
func componentError(fd int, part, walked, entry string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		// Which of the two a symlink gives depends on the flags and kernel: ask.
		if st, ok, _ := lstatAt(fd, part); ok && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return throughSymlinkError(entry, walked)
		}
		return fmt.Errorf("tar entry %q: %q is not a directory: %w", entry, walked, errdefs.ErrInvalidArgument)
	}
	return &os.PathError{Op: "open", Path: walked, Err: err}
}

// openAt opens one directory entry of dirfd as a directory, refusing a symlink.
func openAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// lstatAt stats one entry of dirfd without following it; ok is false when it
// does not exist.
func lstatAt(dirfd int, name string) (st unix.Stat_t, ok bool, err error) {
	err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return st, false, nil
	}
	return st, err == nil, err
}

// removeAt removes one entry of dirfd and, for a directory, everything
// under it, never following a symlink. A missing entry is not an error.
func removeAt(dirfd int, name string) error {
	st, ok, err := lstatAt(dirfd, name)
	if err != nil || !ok {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(dirfd, name, 0)
	}
	if err := clearDir(dirfd, name, nil); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// clearDir removes the entries of the directory name in dirfd, except those
// for which keep returns true.
func clearDir(dirfd int, name string, keep func(string) bool) error {
	fd, err := openAt(dirfd, name)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep != nil && keep(n) {
			continue
		}
		if err := removeAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}

// procPath names an entry of an open directory for the calls that take only
// a path (lsetxattr): the descriptor's /proc link is our own directory, and
// the last component is not followed by the l* calls.
func procPath(dirfd int, name string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, name)
}

// join joins clean relative paths; "." and "" are the root.
func join(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}

// exists reports whether rel is in the tree, reached without following a
// symlink: a path whose way passes a symlink or a file is not there.
func (t *tree) exists(rel string) (bool, error) {
	dir, base := filepath.Split(rel)
	dirfd, err := t.openDir(strings.TrimSuffix(dir, "/"), rel, false)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errdefs.ErrInvalidArgument) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(dirfd)
	_, ok, err := lstatAt(dirfd, base)
	return ok, err
}
