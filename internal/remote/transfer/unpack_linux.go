package transfer

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
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

func (u snapshotUnpacker) Unpack(ctx context.Context, blob image.Descriptor, chainID, parent digest.Digest) error {
	ra, err := u.s.Content().ReaderAt(ctx, blob)
	if err != nil {
		return err
	}
	defer ra.Close()
	tarball := store.Uncompressed(content.NewReader(ra))
	defer tarball.Close()
	return snapshot.Unpack(ctx, u.sn, chainID.String(), string(parent), tarball)
}
