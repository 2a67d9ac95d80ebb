//go:build !linux

package build

import (
	"context"
	"errors"

	"github.com/strata-dev/strata/internal/store"
)

// Build needs Linux: RUN steps run in containers, COPY on mounted snapshots.
func Build(ctx context.Context, st *store.Store, o Options) (Result, error) {
	return Result{}, errors.New("strata build runs on Linux only: its steps run in Linux containers")
}
