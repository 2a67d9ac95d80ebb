//go:build !linux

package cli

import (
	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/store"
)

// pullUnpacker: snapshots are Linux's; elsewhere a pull stores the blobs.
func (a *app) pullUnpacker(*store.Store) (transfer.Unpacker, error) { return nil, nil }
