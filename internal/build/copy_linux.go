package build

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
)

// copySource is one source of a COPY or ADD, resolved: a file or directory
// of a tree, a local tar that ADD unpacks, or content of its own (a
// heredoc, a download).
type copySource struct {
	name     string  // the file's name at the destination, for a file
	entries  []entry // the file, or the directory and what is below it
	dir      bool
	parents  bool      // COPY --parents: name is a path below the destination
	unpack   bool      // ADD of a local tar: its entries go to the destination
	data     []byte    // content given inline (a heredoc); entries is then empty
	download *download // or content downloaded
	mode     fs.FileMode
	mtime    time.Time
	hash     string // "file:HEX" or "dir:HEX", as the history shows it
}

// copySpec is a resolved COPY or ADD: where its sources go and how.
type copySpec struct {
	dest    string // absolute path in the image; a trailing "/" means a directory
	destDir bool   // the sources go inside dest (several sources, a pattern, a trailing "/")
	chown   string // --chown, "" for root
	chmod   string // --chmod, octal, "" to keep the sources' modes
	sources []copySource
}

// owner turns --chown into ids, from the image's own /etc/passwd and
// /etc/group; as Docker's classic builder does, a user without a group
// means the group of that name or number.
func (c *copySpec) owner(root string) (int, int, error) {
	if c.chown == "" {
		return 0, 0, nil
	}
	spec := c.chown
	if !strings.Contains(spec, ":") {
		spec += ":" + spec
	}
	u, _, err := runtime.ResolveUser(root, spec)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", c.chown, err)
	}
	return int(u.UID), int(u.GID), nil
}

func (c *copySpec) perm() (fs.FileMode, bool, error) {
	if c.chmod == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(c.chmod, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, false, fmt.Errorf("--chmod=%s: want an octal mode such as 0755: %w", c.chmod, errdefs.ErrInvalidArgument)
	}
	return fs.FileMode(n), true, nil
}

// copyWriter writes the tar of a COPY or ADD: entries named where they go
// in the image's file system (root, mounted), which archive.Apply then
// writes into it safely.
type copyWriter struct {
	tw       *tar.Writer
	fs       *os.Root // the destination, to see what it has
	uid, gid int
	chowned  bool // --chown given: it also owns what ADD unpacks
	perm     fs.FileMode
	setPerm  bool
	now      time.Time
	n        int // entries written
}

// writeCopy writes c's tar for the file system at root, and returns how
// many entries it wrote.
func writeCopy(w io.Writer, root string, c *copySpec) (int, error) {
	uid, gid, err := c.owner(root)
	if err != nil {
		return 0, err
	}
	perm, setPerm, err := c.perm()
	if err != nil {
		return 0, err
	}
	fsys, err := os.OpenRoot(root)
	if err != nil {
		return 0, err
	}
	defer fsys.Close()
	cw := &copyWriter{tw: tar.NewWriter(w), fs: fsys, uid: uid, gid: gid, chowned: c.chown != "", perm: perm, setPerm: setPerm, now: time.Now()}
	dest, err := resolveIn(fsys, c.dest, true, nil)
	if err != nil {
		return 0, err
	}
	if fi, err := fsys.Stat(dest); err == nil && fi.IsDir() {
		c.destDir = true
	}
	for _, s := range c.sources {
		target := dest
		if s.parents || !s.dir && !s.unpack && c.destDir {
			target = path.Join(dest, s.name)
		}
		parent := path.Dir(target)
		if s.dir || s.unpack {
			parent = target
		}
		if err := cw.parents(parent); err != nil {
			return cw.n, err
		}
		if err := cw.source(s, target); err != nil {
			return cw.n, err
		}
	}
	return cw.n, cw.tw.Close()
}

// parents writes the directories of dir that the destination lacks, as
// BuildKit makes them: owned by --chown's user, 0755 or --chmod's mode.
func (cw *copyWriter) parents(dir string) error {
	if dir == "." || dir == "/" {
		return nil
	}
	walked := ""
	for _, part := range strings.Split(dir, "/") {
		walked = path.Join(walked, part)
		if _, err := cw.fs.Lstat(walked); err == nil {
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: walked + "/", Mode: 0o755, ModTime: cw.now}
		if err := cw.write(cw.own(hdr, true), nil); err != nil {
			return err
		}
	}
	return nil
}

// source writes one source at target.
func (cw *copyWriter) source(s copySource, target string) error {
	switch {
	case s.data != nil:
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(s.mode.Perm()), Size: int64(len(s.data)), ModTime: s.mtime}
		return cw.write(cw.own(hdr, true), strings.NewReader(string(s.data)))
	case s.unpack:
		return cw.unpack(s, target)
	case s.download != nil:
		if _, err := s.download.file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(s.mode.Perm()), Size: s.download.size, ModTime: s.mtime}
		return cw.write(cw.own(hdr, true), s.download.file)
	}
	for _, e := range s.entries {
		name := path.Join(target, e.rel)
		if e.rel == "" && s.dir {
			continue // the directory itself: its contents go to target
		}
		hdr, err := tar.FileInfoHeader(e.info, e.link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uname, hdr.Gname = name, "", ""
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := cw.file(cw.own(hdr, true), e); err != nil {
			return err
		}
	}
	return nil
}

// file writes hdr with the content of e, for a regular file.
func (cw *copyWriter) file(hdr *tar.Header, e entry) error {
	if hdr.Typeflag != tar.TypeReg {
		return cw.write(hdr, nil)
	}
	f, err := e.open()
	if err != nil {
		return err
	}
	defer f.Close()
	return cw.write(hdr, f)
}

// own makes hdr owned as --chown says and, with chmod, moded as --chmod.
func (cw *copyWriter) own(hdr *tar.Header, chmod bool) *tar.Header {
	hdr.Uid, hdr.Gid = cw.uid, cw.gid
	if chmod && cw.setPerm && hdr.Typeflag != tar.TypeSymlink {
		hdr.Mode = int64(cw.perm)
	}
	return hdr
}

// write writes hdr and its body.
func (cw *copyWriter) write(hdr *tar.Header, body io.Reader) error {
	hdr.Format = tar.FormatPAX
	cw.n++
	if err := cw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if body != nil && hdr.Size > 0 {
		if _, err := io.CopyN(cw.tw, body, hdr.Size); err != nil {
			return fmt.Errorf("copy %s: %w", hdr.Name, err)
		}
	}
	return nil
}

// unpack writes the entries of the archive s (a local tar or a download)
// below dir, as ADD unpacks archives: their owners kept unless --chown,
// names that would leave dir refused.
func (cw *copyWriter) unpack(s copySource, dir string) error {
	f, err := s.open()
	if err != nil {
		return err
	}
	p := s.name
	defer f.Close()
	r, err := decompressed(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD %s: %v: %w", filepath.Base(p), err, errdefs.ErrInvalidArgument)
		}
		name, err := archive.CleanName(hdr.Name)
		if err != nil {
			return fmt.Errorf("ADD %s: %w", filepath.Base(p), err)
		}
		h := *hdr
		h.Name = path.Join(dir, name)
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			link, err := archive.CleanName(h.Linkname)
			if err != nil {
				return fmt.Errorf("ADD %s: %w", filepath.Base(p), err)
			}
			h.Linkname = path.Join(dir, link)
		}
		if cw.chowned {
			cw.own(&h, false)
		}
		if err := cw.write(&h, tr); err != nil {
			return err
		}
	}
}

// compression magic numbers of the archives ADD unpacks.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompressed reads r uncompressed, whichever of gzip, bzip2 or zstd it is.
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	switch {
	case hasPrefix(head, magicGzip):
		return gzip.NewReader(br)
	case hasPrefix(head, magicBzip2):
		return bzip2.NewReader(br), nil
	case hasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case hasPrefix(head, magicXz):
		return nil, fmt.Errorf("xz-compressed archives are not unpacked by strata: unpack it first, or use gzip: %w", errdefs.ErrInvalidArgument)
	}
	return br, nil
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// open reads the content of a file source: a file of a tree, or a
// download.
func (s copySource) open() (io.ReadCloser, error) {
	if s.download != nil {
		return io.NopCloser(io.NewSectionReader(s.download.file, 0, s.download.size)), nil
	}
	return s.entries[0].open()
}

// isArchive reports whether the file source s is a tar that ADD unpacks:
// plain, gzip, bzip2, xz or zstd, with a first entry that reads.
func isArchive(s copySource) bool {
	f, err := s.open()
	if err != nil {
		return false
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if head, _ := br.Peek(6); hasPrefix(head, magicXz) {
		return true // refused with a clear error when unpacked
	}
	r, err := decompressed(br)
	if err != nil {
		return false
	}
	_, err = tar.NewReader(r).Next()
	return err == nil
}
