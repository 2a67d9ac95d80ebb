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
	// The last directory opened is kept, since entries come grouped by
	// directory. Whoever removes or replaces anything in the tree calls
	// forget: a directory may be removed and made anew under the same name.
	lastDir string // "" once forgotten
	lastFd  int    // open until replaced, even once forgotten: it may be lent
	lastSt  unix.Stat_t
	// made, when set, hears of each directory that a walk with create made,
	// with its descriptor; overWhiteout says that it replaced a whiteout.
	made func(fd int, rel string, overWhiteout bool) error
	// whiteouts says the tree is an overlay upper directory, where a 0/0
	// character device records a deletion: a walk with create replaces one
	// on its way with a directory.
	whiteouts bool
}

func openTree(root string) (*tree, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &tree{root: fd, lastFd: -1}, nil
}

func (t *tree) close() {
	if t.lastFd >= 0 {
		unix.Close(t.lastFd)
	}
	unix.Close(t.root)
}

// forget stops the kept directory from being found again: call it after
// removing anything. A descriptor lent out stays open until the next dir.
func (t *tree) forget() { t.lastDir = "" }

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
	fd, err := t.dir(dir, entry, create)
	if err != nil {
		return -1, err
	}
	return unix.Dup(fd)
}

// dir is openDir's descriptor, lent: it stays the tree's, valid until the
// next call of dir or openDir.
func (t *tree) dir(dir, entry string, create bool) (int, error) {
	if dir == "" {
		dir = "."
	}
	if dir == t.lastDir {
		return t.lastFd, nil
	}
	fd, err := t.walkDir(dir, entry, create)
	if err == nil {
		err = unix.Fstat(fd, &t.lastSt)
	}
	if err != nil {
		closeFds(fd)
		return -1, err
	}
	if t.lastFd >= 0 {
		unix.Close(t.lastFd)
	}
	t.lastDir, t.lastFd = dir, fd
	return fd, nil
}

// newOwner is who owns what is made now in the directory dir returned:
// the caller, in the directory's group if it is set-group-ID.
func (t *tree) newOwner(uid, gid int) (int, int) {
	if t.lastSt.Mode&unix.S_ISGID != 0 {
		gid = int(t.lastSt.Gid)
	}
	return uid, gid
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
		switch {
		case create && errors.Is(err, unix.ENOENT):
			next, err = t.makeDir(fd, part, walked, false)
		case create && t.whiteouts && errors.Is(err, unix.ENOTDIR) && isWhiteoutAt(fd, part):
			if err = unix.Unlinkat(fd, part, 0); err == nil {
				t.forget()
				next, err = t.makeDir(fd, part, walked, true)
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

// makeDir makes the directory part of fd, an implicit parent whose path in
// the tree is rel, and opens it.
func (t *tree) makeDir(fd int, part, rel string, overWhiteout bool) (int, error) {
	if err := unix.Mkdirat(fd, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	next, err := openAt(fd, part)
	if err == nil && t.made != nil {
		if err = t.made(next, rel, overWhiteout); err != nil {
			unix.Close(next)
			return -1, err
		}
	}
	return next, err
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
