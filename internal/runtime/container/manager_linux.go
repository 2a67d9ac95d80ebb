// Package container runs containers from the images of the local store:
// their layers unpacked once into snapshots keyed by chainID, a writable
// snapshot on top for each container, and runc to run them.
//
// Layout under the store's root:
//
//	snapshots/            the snapshotter (package snapshot)
//	containers/ID/        one container: config.json (its OCI bundle),
//	                      rootfs/ (its file system, mounted while it runs),
//	                      hosts, hostname, resolv.conf, netns, container.log
//	                      (Docker's json-file format), runc.log
//	runc/                 runc's state
//	mounts/ID/            `strata image mount` views of images
//
// A container's writable snapshot sits on an "init" snapshot of its image
// (the mount points that runc needs, when the image lacks them), so what
// runc creates never shows in `diff` or `commit`, as with Docker's init layer.
package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// Manager creates, runs and inspects containers of one store.
type Manager struct {
	root     string
	store    *store.Store
	sn       snapshot.Snapshotter
	networks *network.Networks
	log      *slog.Logger
}

// New opens the containers of st. snapshotter is "overlay", "native" or ""
// for the one the store uses (see snapshot.Open).
func New(st *store.Store, snapshotter string, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sn, err := OpenSnapshotter(st, snapshotter, log)
	if err != nil {
		return nil, err
	}
	return &Manager{root: st.Root(), store: st, sn: sn, networks: network.Open(st.Root()), log: log}, nil
}

// OpenSnapshotter opens the snapshots of st (snapshots/ under its root),
// which pulls unpack layers into and containers run on. name is "overlay",
// "native" or "" for the one the store uses (see snapshot.Open).
func OpenSnapshotter(st *store.Store, name string, log *slog.Logger) (snapshot.Snapshotter, error) {
	return snapshot.Open(snapshotsDir(st), name, log)
}

func snapshotsDir(st *store.Store) string { return filepath.Join(st.Root(), "snapshots") }

// Snapshotter is where the manager keeps layers and containers' files.
func (m *Manager) Snapshotter() snapshot.Snapshotter { return m.sn }

func (m *Manager) dir(id string) string { return filepath.Join(m.root, "containers", id) }

func snapshotKey(id string) string { return "container-" + id }

func (m *Manager) runc() (*runtime.Runc, error) {
	return runtime.FindRunc(runtime.StateDir(m.root))
}

// ImageConfig reads and parses an image's config.
func (m *Manager) ImageConfig(ctx context.Context, img store.Image) (*image.Config, error) {
	b, err := m.store.Config(ctx, img)
	if err != nil {
		return nil, err
	}
	return image.ParseConfig(b)
}

// Unpack makes sure every layer of img is unpacked into a snapshot, each
// stack of layers once, and returns the config and the top chainID ("" for
// an image without layers). Layers are checked against their diffIDs as
// they unpack; a layer that does not match is not committed.
func (m *Manager) Unpack(ctx context.Context, img store.Image) (*image.Config, string, error) {
	cfg, err := m.ImageConfig(ctx, img)
	if err != nil {
		return nil, "", err
	}
	chain, err := m.unpackLayers(ctx, cfg.RootFS.DiffIDs, img.ID.Encoded()[:12])
	if err != nil {
		return nil, "", err
	}
	return cfg, chain, nil
}

// UnpackLayers is Unpack of a stack of stored layers, bottom first, that
// need not be an image's (the layers a build has made so far).
func (m *Manager) UnpackLayers(ctx context.Context, diffIDs []digest.Digest) (string, error) {
	return m.unpackLayers(ctx, diffIDs, "the build")
}

// unpackLayers unpacks the stored layers diffIDs that are not unpacked yet,
// side by side where the snapshots allow it, and returns the top chainID.
func (m *Manager) unpackLayers(ctx context.Context, diffIDs []digest.Digest, of string) (string, error) {
	if len(diffIDs) == 0 {
		return "", nil
	}
	var names []string
	for _, c := range image.ChainIDs(diffIDs) {
		names = append(names, c.String())
	}
	stack := snapshot.NewStack(ctx, m.sn, names)
	g, gctx := errgroup.WithContext(ctx)
	for i, diffID := range diffIDs {
		if stack.Unpacked(i) {
			continue
		}
		g.Go(func() error {
			rc, err := m.store.OpenLayer(gctx, diffID)
			if err == nil {
				err = stack.Unpack(gctx, i, rc, diffID)
				rc.Close()
			}
			if err != nil {
				return fmt.Errorf("unpack layer %d of %s (%s): %w", i+1, of, diffID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return names[len(names)-1], nil
}

// initLayer returns the snapshot a container of the image chain sits on:
// the image's own, or an "init" snapshot on it that adds the mount points
// runc needs and the image lacks.
func (m *Manager) initLayer(ctx context.Context, chain string) (string, error) {
	name := "init-" + chain
	if chain == "" {
		name = "init"
	}
	if _, err := m.sn.Stat(ctx, name); err == nil {
		return name, nil
	}
	// One view of chain: to see which mount points it lacks, and to
	// unpack the layer that makes them on it.
	made, err := snapshot.UnpackOnView(ctx, m.sn, name, chain, func(root string) (io.Reader, error) {
		missing := missingMountPoints(root)
		if len(missing) == 0 {
			return nil, nil
		}
		var b bytes.Buffer
		return &b, writeInitLayer(&b, missing)
	})
	if err != nil {
		return "", fmt.Errorf("init layer: %w", err)
	}
	if !made {
		return chain, nil
	}
	return name, nil
}

// mountPoints are what runc mounts over in every container.
var mountPoints = []string{"dev/", "proc/", "sys/", "etc/", "etc/hosts", "etc/hostname", "etc/resolv.conf"}

// missingMountPoints lists the mount points the file system at root lacks
// (all of them for none).
func missingMountPoints(root string) []string {
	if root == "" {
		return mountPoints
	}
	var missing []string
	for _, p := range mountPoints {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}
