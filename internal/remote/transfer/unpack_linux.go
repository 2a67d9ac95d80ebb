package transfer

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// SnapshotUnpacker unpacks layers from the store s into the snapshotter sn.
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

func (u snapshotUnpacker) Stack(ctx context.Context, diffIDs []digest.Digest) LayerStack {
	var names []string
	for _, c := range image.ChainIDs(diffIDs) {
		names = append(names, c.String())
	}
	return snapshotStack{s: u.s, st: snapshot.NewStack(ctx, u.sn, names)}
}

type snapshotStack struct {
	s  *store.Store
	st *snapshot.Stack
}

func (ss snapshotStack) Unpacked(i int) bool { return ss.st.Unpacked(i) }

// Unpack decompresses the blob once, for the unpacking (which checks the
// diffID before it commits) and for the store's checks alike.
func (ss snapshotStack) Unpack(ctx context.Context, i int, blob image.Descriptor, diffID digest.Digest) (store.Layer, error) {
	ra, err := ss.s.Content().ReaderAt(ctx, blob)
	if err != nil {
		return store.Layer{}, err
	}
	defer ra.Close()
	tarball := store.Uncompressed(content.NewReader(ra))
	defer tarball.Close()
	check := store.CheckLayer(blob, diffID)
	err = ss.st.Unpack(ctx, i, io.TeeReader(tarball, check), diffID)
	return check.Layer(err)
}
