package cli

import (
	"os"

	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// pullUnpacker unpacks pulled layers into the store's snapshots (where
// containers run from), as root; without root, mounts are not allowed, so a
// pull stores the blobs and `run` unpacks them, as root, when it needs them.
func (a *app) pullUnpacker(s *store.Store) (transfer.Unpacker, error) {
	if os.Geteuid() != 0 {
		a.log.Info("not root: pull stores layers without unpacking them")
		return nil, nil
	}
	sn, err := container.OpenSnapshotter(s, "", a.log)
	if err != nil {
		return nil, err
	}
	return transfer.SnapshotUnpacker(s, sn), nil
}
