package store

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/image"
)

// OpenLayer streams the uncompressed tar of the stored layer diffID, from
// whichever stored blob carries it (gzip, zstd or plain), for unpacking into
// a snapshot. The caller verifies the diffID if it needs to.
func (s *Store) OpenLayer(ctx context.Context, diffID digest.Digest) (io.ReadCloser, error) {
	lb, err := s.LayerByDiffID(ctx, diffID)
	if err != nil {
		return nil, err
	}
	ra, err := s.content.ReaderAt(ctx, lb.Blob)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		err := decompress(image.LayerCompression(lb.Blob.MediaType), content.NewReader(ra), pw)
		ra.Close()
		pw.CloseWithError(err)
	}()
	return pr, nil
}
