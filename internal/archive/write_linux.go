package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteDir writes the tree under dir to w as a layer tar: entries in lexical
// order, names relative to dir ("bin/", "bin/sh"), owners as numeric ids,
// hard links as links, xattrs as PAX records. The same tree always gives the
// same bytes, so the same directory imported twice is the same layer.
func WriteDir(ctx context.Context, w io.Writer, dir string) error {
	t, err := openTree(dir)
	if err != nil {
		return err
	}
	defer t.close()
	lw := newLayerWriter(w, t)
	err = walk(ctx, dir, func(rel string, _ fs.FileInfo) error { return lw.entry(rel) })
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return lw.close()
}

// WriteTree writes the entry rel of the tree at root (a file, or a
// directory with everything under it) to w as a tar whose names start
// with name instead of rel ("" for the directory's contents alone): what
// `cp` copies out of a container or into one. Nothing on the way to an
// entry is followed as a symlink, as for WriteDir.
func WriteTree(ctx context.Context, w io.Writer, root, rel, name string) error {
	t, err := openTree(root)
	if err != nil {
		return err
	}
	defer t.close()
	lw := newLayerWriter(w, t)
	lw.rename = func(r string) string {
		return strings.TrimPrefix(path.Join(name, strings.TrimPrefix(strings.TrimPrefix(r, rel), "/")), "/")
	}
	rel = strings.Trim(filepath.Clean(rel), "/")
	if rel == "." {
		rel = ""
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, rel), &st); err != nil {
		return err
	}
	if name != "" && rel != "" {
		if err := lw.entry(rel); err != nil {
			return err
		}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = walk(ctx, filepath.Join(root, rel), func(sub string, _ fs.FileInfo) error { return lw.entry(path.Join(rel, sub)) })
		if err != nil {
			return fmt.Errorf("tar %s: %w", rel, err)
		}
	}
	return lw.close()
}

// layerWriter writes entries of a tree to a layer tar, reading each one
// without following a symlink on the way to it: a tree that changes while it
// is read (a running container's) cannot make it read outside the tree.
type layerWriter struct {
	tw     *tar.Writer
	t      *tree
	links  map[inode]string    // first name written for each multiply-linked inode
	rename func(string) string // a name in the tar for an entry's path, when not the path itself
}

type inode struct{ dev, ino uint64 }

func newLayerWriter(w io.Writer, t *tree) *layerWriter {
	return &layerWriter{tw: tar.NewWriter(w), t: t, links: map[inode]string{}}
}

func (lw *layerWriter) close() error { return lw.tw.Close() }

// header writes a bare header, for whiteouts.
func (lw *layerWriter) header(hdr *tar.Header) error { return lw.tw.WriteHeader(hdr) }

// entry adds the file, directory, link or device at rel to the tar.
func (lw *layerWriter) entry(rel string) error {
	dir, base := filepath.Split(rel)
	dirfd, err := lw.t.openDir(strings.TrimSuffix(dir, "/"), rel, false)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: rel, Err: err}
	}
	hdr, err := headerOf(dirfd, base, &st)
	if hdr == nil || err != nil {
		return err // a socket cannot be stored in a tar; Docker skips them too
	}
	hdr.Name = rel
	if lw.rename != nil {
		hdr.Name = lw.rename(rel)
	}
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	if hdr.Typeflag == tar.TypeReg && st.Nlink > 1 {
		key := inode{st.Dev, st.Ino}
		if first, seen := lw.links[key]; seen {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			lw.links[key] = hdr.Name
		}
	}
	if err := addXattrs(hdr, procPath(dirfd, base)); err != nil {
		return err
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	n, err := io.Copy(lw.tw, io.LimitReader(f, hdr.Size))
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%s changed size while being read", rel)
	}
	return err
}

// headerOf is the tar header for an entry, from its stat: numeric owners,
// times to the second, no user or group names. nil for a socket.
func headerOf(dirfd int, base string, st *unix.Stat_t) (*tar.Header, error) {
	hdr := &tar.Header{
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dirfd, base, buf)
		if err != nil {
			return nil, err
		}
		hdr.Linkname = string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil
	}
	return hdr, nil
}

// addXattrs records a file's extended attributes (file capabilities among
// them) as SCHILY.xattr PAX records, the form Docker and containerd use.
// overlayfs's own trusted.overlay.* attributes are not the file's: they stay out.
func addXattrs(hdr *tar.Header, p string) error {
	return eachFileXattr(p, func(name string, val []byte) error {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val)
		return nil
	})
}

// eachFileXattr calls fn with each extended attribute of the entry p (not
// followed) but overlayfs's own trusted.overlay.* ones.
func eachFileXattr(p string, fn func(name string, val []byte) error) error {
	names, err := listXattrs(p)
	if err != nil {
		return err
	}
	for _, name := range names {
		if strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		val, err := getXattr(p, name)
		if err != nil {
			return err
		}
		if err := fn(name, val); err != nil {
			return err
		}
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
		return buf[:n], nil
	}
}
