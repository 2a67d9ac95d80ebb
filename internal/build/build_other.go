//go:build !linux

package build

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/strata-dev/strata/internal/store"
)

// Build needs Linux: RUN steps run in containers, COPY on mounted snapshots.
func Build(ctx context.Context, st *store.Store, o Options) (Result, error) {
	return Result{}, errors.New("strata build runs on Linux only: its steps run in Linux containers")
}

// ExportRootfs needs Linux: it mounts the image's layers.
func ExportRootfs(ctx context.Context, st *store.Store, snapshotter string, img store.Image, w io.Writer) error {
	return errors.New("strata build runs on Linux only")
}

// PruneCacheMounts has nothing to prune where builds do not run.
func PruneCacheMounts(root string, before time.Time) (int64, error) { return 0, nil }

// ExtractContext needs Linux.
func ExtractContext(ctx context.Context, r io.Reader, dir string) error {
	return errors.New("strata build runs on Linux only")
}
