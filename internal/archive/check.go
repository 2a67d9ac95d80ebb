package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Check reads a layer tar to its end and returns the first reason it is not a
// layer strata will store: it is not a tar, it is truncated, an entry name or
// hard link target escapes the root, or an entry has a type a layer cannot
// hold. Symlink targets are not judged here: a symlink may point anywhere
// (/bin/sh → busybox is common); it is extraction that must never follow one
// out of the root.
func Check(r io.Reader) error {
	ts := newTarStream(r)
	for {
		_, err := ts.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// Reading the body to the end is what finds a truncated archive.
		if _, err := io.Copy(io.Discard, ts.tr); err != nil {
			return fmt.Errorf("layer tar: entry %q: %v: %w", ts.name, err, errdefs.ErrInvalidArgument)
		}
	}
}

// tarStream reads the entries of a layer tar, judging each header, and
// tells an archive cut between two entries (which reads like a shorter one)
// from a whole one by its end-of-archive blocks.
type tarStream struct {
	cr   *countingReader
	tr   *tar.Reader
	n    int    // entries read
	end  int64  // where the last entry's padded body ends
	name string // the last entry's name
}

func newTarStream(r io.Reader) *tarStream {
	cr := &countingReader{r: r}
	return &tarStream{cr: cr, tr: tar.NewReader(cr)}
}

// next returns the next entry, io.EOF after the last one of a whole
// archive, or why the archive is not a layer strata will take.
func (s *tarStream) next() (*tar.Header, error) {
	hdr, err := s.tr.Next()
	if errors.Is(err, io.EOF) {
		if s.n == 0 {
			return nil, fmt.Errorf("layer tar has no entries (is it a tar at all?): %w", errdefs.ErrInvalidArgument)
		}
		if s.cr.n < s.end+blockSize {
			return nil, fmt.Errorf("layer tar is truncated: it ends without the end-of-archive marker: %w", errdefs.ErrInvalidArgument)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("layer tar: entry %d: %v: %w", s.n+1, err, errdefs.ErrInvalidArgument)
	}
	s.n++
	s.name = hdr.Name
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	// archive/tar reads no further than the header: the body starts here.
	s.end = (s.cr.n + max(hdr.Size, 0) + blockSize - 1) / blockSize * blockSize
	return hdr, nil
}

// checkHeader judges one entry's name, type and link target.
func checkHeader(hdr *tar.Header) error {
	if _, err := CleanName(hdr.Name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		if _, err := CleanName(hdr.Linkname); err != nil {
			return fmt.Errorf("hard link %q → %q: %w", hdr.Name, hdr.Linkname, err)
		}
	case tar.TypeXGlobalHeader:
	default:
		return fmt.Errorf("tar entry %q has type %q, which a layer cannot hold: %w", hdr.Name, string(hdr.Typeflag), errdefs.ErrInvalidArgument)
	}
	if hdr.Size < 0 {
		return fmt.Errorf("tar entry %q has a negative size: %w", hdr.Name, errdefs.ErrInvalidArgument)
	}
	return nil
}

const blockSize = 512

// countingReader counts the bytes read through it. archive/tar reads whole
// blocks straight from it, so the count is the position in the archive.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
