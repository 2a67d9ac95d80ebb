// Package imagearchive reads and writes images as files: Docker's archive
// format (what `docker save` writes and `docker load` reads: manifest.json,
// configs and layer tars) and OCI image layouts (oci-layout, index.json,
// blobs/), each as a directory or a tar, which may be gzip or zstd
// compressed when read.
//
// Archives are hostile input: every path inside one is resolved within the
// archive, every blob is verified against its digest and every layer against
// the diffID its config names before an image is stored, and an archive that
// fails any check stores nothing.
package imagearchive

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// files is read access to an archive's contents by path.
type files interface {
	// open opens the regular file at name (slash-separated, relative).
	open(name string) (io.ReadCloser, int64, error)
	exists(name string) bool
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// cleanPath resolves name inside the archive, refusing one that climbs out.
func cleanPath(name string) (string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", invalid("archive path %q is not a file name", name)
	}
	depth := 0
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", invalid("archive path %q climbs out of the archive", name)
			}
		default:
			depth++
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// dirFiles is an archive unpacked in a directory; os.Root keeps every open,
// symlinks included, inside it.
type dirFiles struct{ root *os.Root }

func (d dirFiles) open(name string) (io.ReadCloser, int64, error) {
	clean, err := cleanPath(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := d.root.Open(clean)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, invalid("the archive has no %s", name)
	}
	if err != nil {
		return nil, 0, invalid("archive file %s: %v", name, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, invalid("archive entry %s is not a regular file", name)
	}
	return f, fi.Size(), nil
}

func (d dirFiles) exists(name string) bool {
	clean, err := cleanPath(name)
	if err != nil {
		return false
	}
	_, err = d.root.Stat(clean)
	return err == nil
}

// tarEntry is where a file's bytes are in the tar, or the link it is.
type tarEntry struct {
	offset, size int64
	link         string // symlink target, or hard link name
	typ          byte
}

// tarFiles is an archive in a seekable tar file, indexed once.
type tarFiles struct {
	f       *os.File
	entries map[string]tarEntry
}

// positionReader counts the bytes read (and skipped) through it: archive/tar
// reads whole blocks straight from it, so the count is its position.
type positionReader struct {
	f   *os.File
	pos int64
}

func (p *positionReader) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *positionReader) Seek(off int64, whence int) (int64, error) {
	n, err := p.f.Seek(off, whence)
	if err == nil {
		p.pos = n
	}
	return n, err
}

func indexTar(f *os.File) (*tarFiles, error) {
	pr := &positionReader{f: f}
	tr := tar.NewReader(pr)
	t := &tarFiles{f: f, entries: map[string]tarEntry{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid("archive is not a tar or is truncated: %v", err)
		}
		name, err := cleanPath(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeSymlink, tar.TypeLink:
			t.entries[name] = tarEntry{offset: pr.pos, size: hdr.Size, link: hdr.Linkname, typ: hdr.Typeflag}
		}
	}
	if len(t.entries) == 0 {
		return nil, invalid("archive has no files: is it an image archive?")
	}
	// A truncated file shows as data ending early: check the last entry fits.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	for name, e := range t.entries {
		if e.offset+e.size > fi.Size() {
			return nil, invalid("archive is truncated: %s ends past its end", name)
		}
	}
	return t, nil
}

func (t *tarFiles) resolve(name string) (tarEntry, error) {
	clean, err := cleanPath(name)
	if err != nil {
		return tarEntry{}, err
	}
	for hops := 0; hops < 16; hops++ {
		e, ok := t.entries[clean]
		if !ok {
			return tarEntry{}, invalid("the archive has no %s", name)
		}
		switch e.typ {
		case tar.TypeSymlink:
			target := e.link
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(clean), target)
			}
			if clean, err = cleanPath(target); err != nil {
				return tarEntry{}, invalid("archive entry %s links out of the archive", name)
			}
		case tar.TypeLink:
			if clean, err = cleanPath(e.link); err != nil {
				return tarEntry{}, err
			}
		default:
			return e, nil
		}
	}
	return tarEntry{}, invalid("archive entry %s: too many links", name)
}

func (t *tarFiles) open(name string) (io.ReadCloser, int64, error) {
	e, err := t.resolve(name)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.offset, e.size)), e.size, nil
}

func (t *tarFiles) exists(name string) bool {
	_, err := t.resolve(name)
	return err == nil
}

// openFiles opens an archive at p: a directory, or a tar file that may be
// compressed (then unpacked into a temporary file in tmpDir first, to be
// read at random).
func openFiles(p, tmpDir string) (files, func(), error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, nil, fmt.Errorf("open archive: %w", err)
	}
	if fi.IsDir() {
		root, err := os.OpenRoot(p)
		if err != nil {
			return nil, nil, err
		}
		return dirFiles{root}, func() { root.Close() }, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	f.Seek(0, io.SeekStart)
	if c := image.DetectCompression(head[:n]); c != image.Uncompressed {
		tmp, err := decompressToTemp(f, c, tmpDir)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		f = tmp
	}
	done := func() {
		f.Close()
		if strings.HasPrefix(f.Name(), tmpDir) && tmpDir != "" {
			os.Remove(f.Name())
		}
	}
	t, err := indexTar(f)
	if err != nil {
		done()
		return nil, nil, err
	}
	return t, done, nil
}

func decompressToTemp(r io.Reader, c image.Compression, tmpDir string) (*os.File, error) {
	var zr io.Reader
	switch c {
	case image.Gzip:
		gz, err := gzip.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, invalid("archive is not valid gzip: %v", err)
		}
		defer gz.Close()
		zr = gz
	case image.Zstd:
		zd, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zd.Close()
		zr = zd
	}
	tmp, err := os.CreateTemp(tmpDir, "archive-*.tar")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(tmp, zr); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, invalid("archive is corrupt or truncated: %s: %v", c, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

// readSmall reads a whole small file (a manifest, a config) from the archive.
func readSmall(fsys files, name string) ([]byte, error) {
	r, size, err := fsys.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > image.MaxManifestSize {
		return nil, invalid("archive file %s is %d bytes, more than the %d allowed", name, size, image.MaxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(r, image.MaxManifestSize+1))
	if err != nil {
		return nil, invalid("read %s: %v", name, err)
	}
	return b, nil
}
