package transfer

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// SnapshotUnpacker unpacks layers from the store s into the snapshotter sn.
// The blobs it reads were verified (digest and diffID) when they were stored.
func SnapshotUnpacker(s *store.Store, sn snapshot.Snapshotter) Unpacker {
	return snapshotUnpacker{s: s, sn: sn}
}

type snapshotUnpacker struct {
	s  *store.Store
	sn snapshot.Snapshotter
}

func (u snapshotUnpacker) Unpacked(ctx context.Context, chainID digest.Digest) bool {
	_, err := u.sn.Stat(ctx, chainID.String())
	return err == nil
}

func (u snapshotUnpacker) Unpack(ctx context.Context, blob image.Descriptor, diffID, chainID, parent digest.Digest) error {
	ra, err := u.s.Content().ReaderAt(ctx, blob)
	if err != nil {
		return err
	}
	defer ra.Close()
	tarball := store.Uncompressed(content.NewReader(ra))
	defer tarball.Close()
	return snapshot.Unpack(ctx, u.sn, chainID.String(), string(parent), &diffIDReader{r: tarball, want: diffID, d: diffID.Algorithm().Digester()})
}

// diffIDReader fails at the end of the layer when its content is not
// diffID, so that a snapshot of the wrong content is never committed.
type diffIDReader struct {
	r    io.Reader
	want digest.Digest
	d    digest.Digester
}

func (v *diffIDReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.d.Hash().Write(p[:n])
	if err == io.EOF && v.d.Digest() != v.want {
		return n, fmt.Errorf("layer content has digest %s, not its diffID %s: %w", v.d.Digest(), v.want, errdefs.ErrInvalidArgument)
	}
	return n, err
}
