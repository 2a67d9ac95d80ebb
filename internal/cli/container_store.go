package cli

import (
	"context"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// wireSnapshots has the store unpack each image it adds (import, load, pull,
// commit) into snapshots, and remove the unpacked layers that no image needs
// when it collects garbage (rmi, prune). Unpacking mounts, so it needs root;
// without root, images are unpacked by the first `run`, which needs root too.
func (a *app) wireSnapshots(s *store.Store) {
	if os.Geteuid() != 0 {
		return
	}
	manager := func() (*container.Manager, error) { return container.New(s, a.getenv("STRATA_SNAPSHOTTER"), a.log) }
	s.Unpack = func(ctx context.Context, img store.Image) error {
		m, err := manager()
		if err != nil {
			return err
		}
		_, _, err = m.Unpack(ctx, img)
		return err
	}
	s.Mounted = func(ctx context.Context, id digest.Digest) (string, error) {
		if !container.HasSnapshots(s) {
			return "", nil
		}
		m, err := manager()
		if err != nil {
			return "", err
		}
		return m.ImageMount(ctx, id)
	}
	s.Collected = func(ctx context.Context) (int64, error) {
		m, err := manager()
		if err != nil {
			return 0, err
		}
		return m.PruneSnapshots(ctx)
	}
}
