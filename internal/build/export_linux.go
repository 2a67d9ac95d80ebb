package build

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// ExportRootfs writes img's whole file system to w as a tar: what
// `build --output type=tar` and type=local write.
func ExportRootfs(ctx context.Context, st *store.Store, snapshotter string, img store.Image, w io.Writer) error {
	m, err := container.New(st, snapshotter, nil)
	if err != nil {
		return err
	}
	layers, err := st.ImageLayers(ctx, img)
	if err != nil {
		return err
	}
	diffIDs := make([]digest.Digest, 0, len(layers))
	for _, l := range layers {
		diffIDs = append(diffIDs, l.DiffID)
	}
	return m.View(ctx, diffIDs, func(root string) error { return archive.WriteDir(ctx, w, root) })
}
