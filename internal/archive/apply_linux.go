package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Whiteout names, from the OCI image spec's "Representing Changes": a file
// ".wh.NAME" deletes NAME from the layers below; ".wh..wh..opq" in a directory
// hides everything the layers below had in it. Other ".wh..wh." names are
// AUFS bookkeeping and carry no change.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
	whiteoutMeta   = ".wh..wh."
)

// Apply extracts the layer tar r into root, on top of what root already
// holds (the layers below, when root is a union mount or a copy of them):
// whiteouts delete, opaque markers empty a directory of what lower layers put
// there, and files, directories, symlinks, hard links, devices and fifos are
// created with their modes, times, xattrs and (as root) owners.
//
// r is hostile. Every entry is resolved inside root without following a
// symlink: a name that climbs out, a hard link to outside, and an entry or
// whiteout under a symlink (whatever it points at) are refused with an
// errdefs.ErrInvalidArgument error, and nothing outside root is touched. On an
// error, root may hold part of the layer: apply into a fresh snapshot and
// discard it on failure. Apply reads r to its end, so a digest of r computed
// alongside covers the whole stream, and refuses what Check refuses (a
// truncated archive among them).
func Apply(ctx context.Context, root string, r io.Reader) error {
	return applyTar(ctx, root, r, nil, false)
}

// ApplyFiles writes the files of a tar (not a layer: a ".wh." name is a
// file like any other) under root, each entry resolved inside it as Apply
// does: what `cp` copies into a container or out of one.
func ApplyFiles(ctx context.Context, root string, r io.Reader) error {
	return applyTar(ctx, root, r, nil, true)
}

func applyTar(ctx context.Context, root string, r io.Reader, ov *overlay, plain bool) error {
	t, err := openTree(root)
	if err != nil {
		return err
	}
	defer t.close()
	a := &applier{tree: t, written: map[string]bool{}, uid: os.Geteuid(), gid: os.Getegid(), buf: make([]byte, 256<<10), ov: ov, plain: plain}
	a.asRoot = a.uid == 0
	if ov != nil {
		defer ov.close()
		t.whiteouts, t.made = true, ov.made
	}
	// archive/tar reads headers a block at a time: read ahead in big pieces.
	br := bufio.NewReaderSize(r, 1<<20)
	if err := a.entries(ctx, newTarStream(br)); err != nil {
		return err
	}
	if ov != nil {
		if err := a.settle(); err != nil {
			return err
		}
	}
	if err := a.dirTimes(); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, br) // the end-of-archive padding belongs to the digest
	return err
}

type applier struct {
	*tree
	written map[string]bool // names this layer created: whiteouts below never hide them
	dirs    []*tar.Header   // directories, whose times are set once their children are in
	asRoot  bool
	uid     int // who owns what the applier makes, until it chowns it
	gid     int
	buf     []byte
	ov      *overlay // the layer is written as an overlay upper directory
	plain   bool     // files, not a layer: ".wh." names are ordinary names
}

// entries applies every entry of ts.
func (a *applier) entries(ctx context.Context, ts *tarStream) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := ts.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := a.entry(hdr, ts.tr); err != nil {
			return err
		}
	}
}

// entry applies one tar entry.
func (a *applier) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, _ := CleanName(hdr.Name)
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, WhiteoutPrefix) && !a.plain {
		return a.whiteout(hdr.Name, dir, base)
	}
	if name == "." {
		return a.rootEntry(hdr)
	}
	dirfd, err := a.dir(dir, hdr.Name, true)
	if err != nil {
		return err
	}
	if err := a.create(dirfd, base, name, hdr, body); err != nil {
		return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
	}
	a.written[name] = true
	if a.ov != nil {
		delete(a.ov.implicit, name)
	}
	return nil
}

// whiteout applies ".wh.NAME" and ".wh..wh..opq" entries found in dir.
func (a *applier) whiteout(entry, dir, base string) error {
	if base != WhiteoutOpaque && strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := strings.TrimPrefix(base, WhiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("tar entry %q is a whiteout of no valid name: %w", entry, errdefs.ErrInvalidArgument)
	}
	if a.ov != nil {
		return a.overlayWhiteout(entry, dir, target, base == WhiteoutOpaque)
	}
	dirfd, err := a.dir(dir, entry, base == WhiteoutOpaque)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	if base == WhiteoutOpaque {
		return a.clearOpaque(dirfd, dir)
	}
	if a.written[join(dir, target)] {
		return nil // a whiteout hides only what the layers below hold
	}
	a.forget()
	if err := removeAt(dirfd, target); err != nil {
		return fmt.Errorf("tar entry %q: remove %s: %w", entry, join(dir, target), err)
	}
	return nil
}

// clearOpaque empties dir of everything that this layer did not put there.
func (a *applier) clearOpaque(dirfd int, dir string) error {
	a.forget()
	keep := func(n string) bool { return a.keptByLayer(join(dir, n)) }
	if err := clearDir(dirfd, ".", keep); err != nil {
		return fmt.Errorf("opaque directory %s: %w", dir, err)
	}
	return nil
}

// keptByLayer reports whether this layer wrote name or anything under it.
func (a *applier) keptByLayer(name string) bool {
	if a.written[name] {
		return true
	}
	for w := range a.written {
		if strings.HasPrefix(w, name+"/") {
			return true
		}
	}
	return false
}

// rootEntry applies the metadata of a "./" entry to the root itself.
func (a *applier) rootEntry(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("tar entry %q names the layer's root but is not a directory: %w", hdr.Name, errdefs.ErrInvalidArgument)
	}
	a.forget() // the kept directory's owner and mode may be these
	if err := a.fileMeta(a.root, hdr); err != nil {
		return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
	}
	h := *hdr
	h.Name = "."
	a.dirs = append(a.dirs, &h)
	return nil
}

// make runs mk, which creates base in dirfd; if something is in the way,
// it goes first (but a directory stays for a directory to merge into), and
// replaced says so.
func (a *applier) make(dirfd int, base string, isDir bool, mk func() error) (replaced bool, err error) {
	err = mk()
	if !errors.Is(err, unix.EEXIST) {
		return false, err
	}
	st, ok, err := lstatAt(dirfd, base)
	if err != nil || (ok && isDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		return false, err
	}
	a.forget()
	if err := removeAt(dirfd, base); err != nil {
		return false, err
	}
	return true, mk()
}

// create makes the entry at base in dirfd, with its metadata.
func (a *applier) create(dirfd int, base, name string, hdr *tar.Header, body io.Reader) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return a.regular(dirfd, base, name, hdr, body)
	case tar.TypeDir:
		replaced, err := a.make(dirfd, base, true, func() error { return unix.Mkdirat(dirfd, base, 0o700) })
		if err != nil {
			return err
		}
		fd, err := openAt(dirfd, base)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if replaced && a.ov != nil {
			// What was there hid what is below; so must the new directory.
			if err := setOpaque(fd); err != nil {
				return err
			}
		}
		a.dirs = append(a.dirs, hdr)
		a.forget() // the kept directory's owner and mode may be these
		return a.fileMeta(fd, hdr)
	case tar.TypeSymlink:
		if _, err := a.make(dirfd, base, false, func() error { return unix.Symlinkat(hdr.Linkname, dirfd, base) }); err != nil {
			return err
		}
	case tar.TypeLink:
		return a.hardLink(dirfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		_, err := a.make(dirfd, base, false, func() error { return unix.Mknodat(dirfd, base, kind|mode, dev) })
		if err != nil {
			if errors.Is(err, unix.EPERM) && hdr.Typeflag != tar.TypeFifo {
				return fmt.Errorf("creating a device node needs root: %w", err)
			}
			return err
		}
		if err := unix.Fchmodat(dirfd, base, mode, 0); err != nil {
			return err
		}
	}
	if err := a.pathMeta(dirfd, base, hdr); err != nil {
		return err
	}
	return setTimes(dirfd, base, hdr)
}

// regular writes a regular file's content and metadata.
func (a *applier) regular(dirfd int, base, name string, hdr *tar.Header, body io.Reader) error {
	fd := -1
	_, err := a.make(dirfd, base, false, func() (err error) {
		fd, err = unix.Openat(dirfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := io.CopyBuffer(fdWriter(fd), io.LimitReader(body, hdr.Size), a.buf)
	var werr *writeError
	switch {
	case errors.As(err, &werr):
		return diskError(werr.err, n, hdr.Size)
	case err != nil || n != hdr.Size:
		return fmt.Errorf("layer tar is truncated or unreadable in this entry (%d of %d bytes): %v: %w", n, hdr.Size, err, errdefs.ErrInvalidArgument)
	}
	// A new file is its maker's already: chown only to someone else.
	if uid, gid := a.newOwner(a.uid, a.gid); hdr.Uid == uid && hdr.Gid == gid {
		h := *hdr
		h.Uid, h.Gid = -1, -1
		hdr = &h
	}
	if err := a.fileMeta(fd, hdr); err != nil {
		return err
	}
	return setTimes(dirfd, base, hdr)
}

// writeError is a failed write of a file's content, which is the disk's
// fault, not the layer's.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// diskError says what a failed write of a file's content means: a full
// disk (or quota) is named as such, so that no one looks for a bad layer.
func diskError(err error, n, size int64) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("the disk is full: no space left to unpack the layer (%d of a file's %d bytes written); "+
			"free some space (strata system prune) and try again: %w", n, size, err)
	}
	return fmt.Errorf("write a file of the layer (%d of %d bytes): %w", n, size, err)
}

// fdWriter writes to a descriptor, with none of os.File's bookkeeping.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &writeError{err}
		}
		n += m
	}
	return n, nil
}

// hardLink links base to the entry the header names, which must already be
// in the tree (from this layer or one below) and is found without following
// a symlink on the way.
func (a *applier) hardLink(dirfd int, base string, hdr *tar.Header) error {
	fd, err := unix.Dup(dirfd) // the tree lends one directory at a time
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	target, _ := CleanName(hdr.Linkname)
	tdir, tbase := path.Split(target)
	tdir = strings.TrimSuffix(tdir, "/")
	var tdirfd int
	if a.ov != nil {
		tdirfd, err = a.linkTarget(hdr, tdir, tbase)
	} else {
		tdirfd, err = a.openDir(tdir, hdr.Name, false)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hard link target %q does not exist in this layer or below: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return err
	}
	defer unix.Close(tdirfd)
	st, ok, err := lstatAt(tdirfd, tbase)
	if err != nil {
		return err
	}
	if !ok || (a.ov != nil && isWhiteoutStat(&st)) {
		return fmt.Errorf("hard link target %q does not exist in this layer or below: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link target %q is a directory: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	_, err = a.make(fd, base, false, func() error { return unix.Linkat(tdirfd, tbase, fd, base, 0) })
	return err
}

// fileMeta sets owner, mode and xattrs through an open descriptor. The owner
// goes first: chown clears the setuid and setgid bits.
func (a *applier) fileMeta(fd int, hdr *tar.Header) error {
	if a.asRoot && (hdr.Uid != -1 || hdr.Gid != -1) {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	return eachXattr(hdr, func(name string, val []byte) error { return unix.Fsetxattr(fd, name, val, 0) })
}

// pathMeta sets owner and xattrs of an entry that cannot be opened (a
// symlink, a device), without following it.
func (a *applier) pathMeta(dirfd int, base string, hdr *tar.Header) error {
	if a.asRoot {
		if err := unix.Fchownat(dirfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	p := procPath(dirfd, base)
	return eachXattr(hdr, func(name string, val []byte) error { return unix.Lsetxattr(p, name, val, 0) })
}

// eachXattr calls set for each xattr of the entry. trusted.overlay.* names
// are dropped: they steer overlayfs, and a layer tar must not carry them.
func eachXattr(hdr *tar.Header, set func(string, []byte) error) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		if err := set(name, []byte(v)); err != nil {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// setTimes sets an entry's access and modification times, not following it.
func setTimes(dirfd int, base string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
	return unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// dirTimes sets directory times last, deepest first, since adding a child
// changes its directory's mtime. A directory a later entry replaced is skipped.
func (a *applier) dirTimes() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		hdr := a.dirs[i]
		name, _ := CleanName(hdr.Name)
		dir, base := path.Split(name)
		if name == "." {
			dir, base = ".", "."
		}
		dirfd, err := a.dir(strings.TrimSuffix(dir, "/"), hdr.Name, false)
		if err != nil {
			continue
		}
		st, ok, _ := lstatAt(dirfd, base)
		if ok && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = setTimes(dirfd, base, hdr)
		}
		if err != nil {
			return fmt.Errorf("tar entry %q: set times: %w", hdr.Name, err)
		}
	}
	return nil
}
