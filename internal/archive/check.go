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
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	var end int64 // where the last entry's padded body ends
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return fmt.Errorf("layer tar has no entries (is it a tar at all?): %w", errdefs.ErrInvalidArgument)
			}
			// A stream cut between two entries reads like a short archive;
			// only the end-of-archive blocks tell them apart.
			if cr.n < end+blockSize {
				return fmt.Errorf("layer tar is truncated: it ends without the end-of-archive marker: %w", errdefs.ErrInvalidArgument)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer tar: entry %d: %v: %w", n+1, err, errdefs.ErrInvalidArgument)
		}
		if err := checkHeader(hdr); err != nil {
			return err
		}
		// Reading the body to the end is what finds a truncated archive.
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("layer tar: entry %q: %v: %w", hdr.Name, err, errdefs.ErrInvalidArgument)
		}
		end = (cr.n + blockSize - 1) / blockSize * blockSize
	}
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
