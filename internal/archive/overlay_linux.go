package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// opaqueXattr marks an overlayfs directory that hides what the layers below
// it have in it.
const opaqueXattr = "trusted.overlay.opaque"

// ApplyOverlay extracts the layer tar r into upper, an empty directory, as an
// overlayfs upper directory of its own, as Docker's overlay2 driver unpacks
// layers: upper ends up holding this layer's entries only, a deletion as a
// whiteout (a 0/0 character device) and a directory that hides what is below
// it marked trusted.overlay.opaque=y, as overlayfs itself records them. Mounted
// over the layers below, it shows what Apply on top of them would make. The
// layers below need not be there while it writes, which lets the layers of an
// image unpack side by side, and no mount is needed.
//
// A few entries depend on what is below: a directory the layer implies without
// an entry for it keeps the owner, mode and xattrs it has below; a whiteout in
// a directory this layer lacks is recorded only if there is something to hide;
// a hard link to a file below copies the file up first, as overlayfs would; and
// a layer that writes under a symlink or a file below is refused, as Apply
// refuses it. For these, ApplyOverlay calls below, which returns a read-only
// view of the layers below ("" for none), waiting for them if need be; a layer
// that needs none of this never calls it.
//
// r is hostile, as for Apply, and nothing that below shows is followed either.
// It needs root: whiteouts are devices, and trusted.* xattrs are root's.
func ApplyOverlay(ctx context.Context, upper string, r io.Reader, below func() (string, error)) error {
	return applyTar(ctx, upper, r, &overlay{below: below, implicit: map[string]bool{}}, false)
}

// overlay is what ApplyOverlay keeps beside the applier.
type overlay struct {
	below    func() (string, error)
	asked    bool
	lower    *tree           // the view below, once asked for; nil for none
	implicit map[string]bool // directories made without an entry: they take their metadata from below
	pending  []pendingWhiteout
}

// pendingWhiteout is a whiteout in a directory the upper lacked when it came.
type pendingWhiteout struct{ name, entry string }

func (ov *overlay) close() {
	if ov.lower != nil {
		ov.lower.close()
	}
}

// made hears of a directory that a walk made: one made over a whiteout
// hides what is below it; others are implicit parents.
func (ov *overlay) made(fd int, rel string, overWhiteout bool) error {
	if overWhiteout {
		return setOpaque(fd)
	}
	ov.implicit[rel] = true
	return nil
}

// lowerTree is the view below, asked for once.
func (a *applier) lowerTree() (*tree, error) {
	ov := a.ov
	if !ov.asked {
		ov.asked = true
		dir, err := "", error(nil)
		if ov.below != nil {
			dir, err = ov.below()
		}
		if err != nil {
			return nil, fmt.Errorf("the layers below: %w", err)
		}
		if dir != "" {
			if ov.lower, err = openTree(dir); err != nil {
				return nil, err
			}
		}
	}
	return ov.lower, nil
}

// overlayWhiteout records ".wh.NAME" or ".wh..wh..opq" in dir.
func (a *applier) overlayWhiteout(entry, dir, target string, opaque bool) error {
	if opaque {
		fd, err := a.dir(dir, entry, true)
		if err != nil {
			return err
		}
		return setOpaque(fd)
	}
	name := join(dir, target)
	if a.written[name] {
		return nil // a whiteout hides only what the layers below hold
	}
	ufd, _, shows, err := a.look(dir, entry, false)
	if err != nil || !shows {
		closeFds(ufd)
		return err
	}
	if ufd < 0 {
		a.ov.pending = append(a.ov.pending, pendingWhiteout{name: name, entry: entry})
		return nil
	}
	defer unix.Close(ufd)
	a.forget()
	if err := removeAt(ufd, target); err != nil {
		return fmt.Errorf("tar entry %q: remove %s: %w", entry, name, err)
	}
	delete(a.ov.implicit, name)
	return mkWhiteout(ufd, target)
}

// look finds the directory dir in the union of the upper directory over the
// layers below, as overlayfs would show it, following no symlink. It returns
// descriptors of dir in the upper directory and, with needBelow, below (-1
// where it is not), and whether the layers below show through at dir: no
// whiteout or opaque directory of this layer is on the way (else there is no
// descriptor below). A symlink or a file on the way is an error: in the upper
// directory, and below where the layer has no directory of its own.
func (a *applier) look(dir, entry string, needBelow bool) (ufd, lfd int, shows bool, err error) {
	ufd, lfd = -1, -1
	defer func() {
		if err != nil {
			closeFds(ufd, lfd)
			ufd, lfd = -1, -1
		}
		if !shows && lfd >= 0 {
			unix.Close(lfd)
			lfd = -1
		}
	}()
	if ufd, err = unix.Dup(a.root); err != nil {
		return
	}
	if needBelow {
		var lower *tree
		if lower, err = a.lowerTree(); err != nil {
			return
		}
		if lower != nil {
			if lfd, err = unix.Dup(lower.root); err != nil {
				return
			}
		}
	}
	if shows = !isOpaqueFd(ufd); !shows || dir == "" || dir == "." {
		return
	}
	walked := ""
	for _, part := range strings.Split(dir, "/") {
		walked = join(walked, part)
		ownDir := false // the upper directory has a directory of its own here
		if ufd >= 0 {
			var next int
			var s bool
			next, ownDir, s, err = a.stepUpper(ufd, part, walked, entry)
			unix.Close(ufd)
			if ufd = next; err != nil {
				return
			}
			if !s {
				shows = false // nothing below shows from here on
				if ufd < 0 {
					return
				}
			}
		}
		if lfd >= 0 && shows {
			next, e := stepBelow(lfd, part, walked, entry, ownDir)
			unix.Close(lfd)
			if lfd, err = next, e; err != nil {
				return
			}
		}
	}
	return
}

// stepUpper goes from ufd into its directory part (walked, in the tree):
// next is -1 when the upper directory has none there; ownDir says it has a
// directory the layer made itself (not an implicit one); shows is false when
// a whiteout or an opaque directory hides what is below.
func (a *applier) stepUpper(ufd int, part, walked, entry string) (next int, ownDir, shows bool, err error) {
	st, ok, err := lstatAt(ufd, part)
	switch {
	case err != nil:
		return -1, false, false, err
	case !ok:
		return -1, false, true, nil
	case isWhiteoutStat(&st):
		return -1, false, false, nil
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return -1, false, false, throughSymlinkError(entry, walked)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return -1, false, false, notDirError(entry, walked)
	}
	if next, err = openAt(ufd, part); err != nil {
		return -1, false, false, err
	}
	return next, !a.ov.implicit[walked], !isOpaqueFd(next), nil
}

// stepBelow goes from lfd into its directory part: -1 when there is none
// below, or what is below is not a directory and this layer's own directory
// hides it. Where the layer has no directory of its own, a symlink or a file
// below is in the way of what the layer writes there.
func stepBelow(lfd int, part, walked, entry string, ownDir bool) (int, error) {
	st, ok, err := lstatAt(lfd, part)
	switch {
	case err != nil || !ok:
		return -1, err
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return openAt(lfd, part)
	case ownDir:
		return -1, nil
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return -1, throughSymlinkError(entry, walked)
	}
	return -1, notDirError(entry, walked)
}

// linkTarget returns a descriptor of the upper directory that holds the hard
// link target tdir/tbase, copying the target up from below first when the
// layer does not have it. The caller closes it.
func (a *applier) linkTarget(hdr *tar.Header, tdir, tbase string) (int, error) {
	ufd, _, shows, err := a.look(tdir, hdr.Name, false)
	if err != nil {
		return -1, err
	}
	if ufd >= 0 {
		_, ok, err := lstatAt(ufd, tbase)
		if ok || err != nil {
			return ufd, err // a whiteout there is judged by the caller
		}
		unix.Close(ufd)
	}
	if !shows {
		return -1, os.ErrNotExist
	}
	_, lfd, shows, err := a.look(tdir, hdr.Name, true)
	if err != nil {
		return -1, err
	}
	if lfd < 0 || !shows {
		return -1, os.ErrNotExist
	}
	defer unix.Close(lfd)
	st, ok, err := lstatAt(lfd, tbase)
	if err != nil || !ok {
		return -1, errors.Join(err, os.ErrNotExist)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return -1, fmt.Errorf("hard link target %q is a directory: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	ufd, err = a.openDir(tdir, hdr.Name, true)
	if err != nil {
		return -1, err
	}
	if err := copyUp(lfd, ufd, tbase, &st); err != nil {
		unix.Close(ufd)
		return -1, fmt.Errorf("tar entry %q: copy up %s from below: %w", hdr.Name, join(tdir, tbase), err)
	}
	return ufd, nil
}

// settle resolves, once the layer is written, what depends on the layers
// below: whiteouts in directories the upper lacked, and the metadata of
// implicit directories.
func (a *applier) settle() error {
	if len(a.ov.implicit) == 0 && len(a.ov.pending) == 0 {
		return nil
	}
	lower, err := a.lowerTree()
	if err != nil || lower == nil {
		return err // nothing below: nothing to hide, and implicit directories are new
	}
	for _, p := range a.ov.pending {
		if err := a.settleWhiteout(p); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(a.ov.implicit))
	for name := range a.ov.implicit {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := a.settleImplicit(name); err != nil {
			return err
		}
	}
	return nil
}

// settleWhiteout records a pending whiteout if there is something below to hide.
func (a *applier) settleWhiteout(p pendingWhiteout) error {
	if a.written[p.name] {
		return nil
	}
	dir, base := path.Split(p.name)
	dir = strings.TrimSuffix(dir, "/")
	ufd, lfd, shows, err := a.look(dir, p.entry, true)
	if err != nil || !shows || lfd < 0 {
		closeFds(ufd)
		return err
	}
	defer closeFds(ufd, lfd)
	if _, below, err := lstatAt(lfd, base); err != nil || !below {
		return err
	}
	if ufd >= 0 {
		st, ok, err := lstatAt(ufd, base)
		if err != nil {
			return err
		}
		if ok {
			// The layer made a directory there after the whiteout: a new
			// one, which the whiteout keeps from merging with the old.
			if st.Mode&unix.S_IFMT == unix.S_IFDIR && a.ov.implicit[p.name] {
				delete(a.ov.implicit, p.name)
				return setOpaqueAt(ufd, base)
			}
			return nil
		}
	} else if ufd, err = a.openDir(dir, p.entry, true); err != nil {
		return err
	}
	return mkWhiteout(ufd, base)
}

// settleImplicit gives an implicit directory the owner, mode and xattrs the
// directory has below, as overlayfs's copy-up would.
func (a *applier) settleImplicit(name string) error {
	if !a.ov.implicit[name] {
		return nil
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	ufd, lfd, shows, err := a.look(dir, name, true)
	if err != nil || !shows || ufd < 0 || lfd < 0 {
		closeFds(ufd, lfd)
		return err
	}
	defer closeFds(ufd, lfd)
	if st, ok, err := lstatAt(ufd, base); err != nil || !ok || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return err // removed or replaced since, by this layer
	}
	st, ok, err := lstatAt(lfd, base)
	switch {
	case err != nil || !ok:
		return err
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return throughSymlinkError(name+"/", name)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return notDirError(name+"/", name)
	}
	return copyMeta(lfd, ufd, base, &st)
}

func notDirError(entry, walked string) error {
	return fmt.Errorf("tar entry %q: %q is not a directory: %w", entry, walked, errdefs.ErrInvalidArgument)
}

func closeFds(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

func mkWhiteout(dirfd int, name string) error {
	return unix.Mknodat(dirfd, name, unix.S_IFCHR, 0)
}

func setOpaque(fd int) error {
	return unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
}

func setOpaqueAt(dirfd int, name string) error {
	fd, err := openAt(dirfd, name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setOpaque(fd)
}

func isOpaqueFd(fd int) bool {
	buf := make([]byte, 4)
	n, err := unix.Fgetxattr(fd, opaqueXattr, buf)
	return err == nil && string(buf[:n]) == "y"
}

func isWhiteoutStat(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isWhiteoutAt(dirfd int, name string) bool {
	st, ok, _ := lstatAt(dirfd, name)
	return ok && isWhiteoutStat(&st)
}
