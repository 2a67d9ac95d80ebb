package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
)

// ReadBlob reads a whole blob into memory; for manifests and configs, which
// are small. It refuses a blob larger than max bytes.
func ReadBlob(ctx context.Context, p Provider, desc ocispec.Descriptor, max int64) ([]byte, error) {
	ra, err := p.ReaderAt(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	if ra.Size() > max {
		return nil, fmt.Errorf("blob %s is %d bytes, more than the %d expected: %w", desc.Digest, ra.Size(), max, errdefs.ErrInvalidArgument)
	}
	b := make([]byte, ra.Size())
	if _, err := ra.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	return b, nil
}

// NewReader reads a blob from the start.
func NewReader(ra ReaderAt) io.Reader { return io.NewSectionReader(ra, 0, ra.Size()) }

// WriteBlob stores what r yields as one blob under the ingest ref, checking it
// against desc (a zero Digest or Size is not checked). When an earlier ingest
// of ref was interrupted, it resumes: r is skipped past what was already
// written (by seeking when it can). Content already stored is not an error:
// WriteBlob returns the stored blob's digest then too.
func WriteBlob(ctx context.Context, ing Ingester, ref string, r io.Reader, desc ocispec.Descriptor) (digest.Digest, error) {
	w, err := ing.Writer(ctx, ref, desc)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return desc.Digest, nil
	}
	if err != nil {
		return "", err
	}
	defer w.Close()
	st, err := w.Status()
	if err != nil {
		return "", err
	}
	if st.Offset > 0 {
		if r, err = skip(r, st.Offset); err != nil {
			return "", err
		}
	}
	if _, err := io.Copy(w, r); err != nil {
		return "", err
	}
	dgst := w.Digest()
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return dgst, nil
		}
		return "", err
	}
	return dgst, nil
}

// skip advances r by n bytes, by seeking when r can.
func skip(r io.Reader, n int64) (io.Reader, error) {
	if s, ok := r.(io.Seeker); ok {
		if _, err := s.Seek(n, io.SeekStart); err != nil {
			return nil, err
		}
		return r, nil
	}
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return nil, fmt.Errorf("skip %d bytes already ingested: %w", n, err)
	}
	return r, nil
}
