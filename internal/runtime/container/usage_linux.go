package container

import (
	"context"
	"os"

	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// LayerUsage is the disk one unpacked layer (a committed snapshot) takes.
type LayerUsage struct {
	Name   string // its chainID, or init-chainID for a container's init layer
	Size   int64
	Needed bool // a stored image, container or mount needs it
	Active bool // the images in use, containers or mounts need it
}

// UnpackedUsage is the disk the unpacked layers take.
type UnpackedUsage struct {
	Layers []LayerUsage
	Size   int64
	// Unused is the bytes of the layers that nothing needs (such as the
	// other stages of a multi-stage build): any garbage collection frees them.
	Unused int64
	// Inactive is the bytes of the layers that the images in use,
	// containers and mounts do not need: what removing every other image frees.
	Inactive int64
}

// Unpacked measures the unpacked layers, and which of them PruneSnapshots
// would free as the store is, and once only the images inUse are left. It
// changes nothing.
func (m *Manager) Unpacked(ctx context.Context, inUse []store.Image) (UnpackedUsage, error) {
	var u UnpackedUsage
	imgs, err := m.store.Images(ctx)
	if err != nil {
		return u, err
	}
	needed, infos, err := m.keptSnapshots(ctx, imgs)
	if err != nil {
		return u, err
	}
	active, _, err := m.keptSnapshots(ctx, inUse)
	if err != nil {
		return u, err
	}
	for _, i := range infos {
		if i.Kind != snapshot.KindCommitted {
			continue
		}
		su, err := m.sn.Usage(ctx, i.Name)
		if err != nil {
			return u, err
		}
		l := LayerUsage{Name: i.Name, Size: su.Size, Needed: needed[i.Name], Active: active[i.Name]}
		u.Layers = append(u.Layers, l)
		u.Size += l.Size
		if !l.Needed {
			u.Unused += l.Size
		}
		if !l.Active {
			u.Inactive += l.Size
		}
	}
	return u, nil
}

// HasSnapshots reports whether st has snapshots yet. Until something is
// unpacked or run it has none, and no containers; opening its snapshotter
// then would choose the snapshotter's kind for good (see snapshot.Open),
// which a command that only looks must not do.
func HasSnapshots(st *store.Store) bool {
	_, err := os.Stat(snapshotsDir(st))
	return err == nil
}
