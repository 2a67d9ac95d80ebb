package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// Diff is what a writable snapshot changed on top of its layers, as a layer
// tar in a temporary file: what `commit` and the steps of a build make into
// a layer. Close removes the file.
type Diff struct {
	f       *os.File
	Changes []archive.Change // none: the step changed nothing
	// DiffID is the digest of the tar, computed as it was written: the
	// layer's diffID, known before the layer is stored.
	DiffID digest.Digest
	// owned, when set, is a build step's snapshot, which the diff keeps
	// until UnpackDiff commits it as the layer's or Close removes it.
	owned *ownedSnapshot
}

type ownedSnapshot struct {
	sn  snapshot.LayerSnapshotter
	key string
}

// stepDiff is diff of a build step's snapshot key, which the Diff takes
// over (see Diff.owned) where the snapshotter keeps layers apart; else
// the caller still removes it. Its changes are the layer's, from the
// step's own files (snapshot.WriteLayer): they do not tell additions from
// changes.
func (m *Manager) stepDiff(ctx context.Context, key string) (*Diff, bool, error) {
	d, err := m.diffWith(ctx, key, snapshot.WriteLayer)
	if err != nil {
		return nil, false, err
	}
	if ls, ok := m.sn.(snapshot.LayerSnapshotter); ok {
		d.owned = &ownedSnapshot{sn: ls, key: key}
	}
	return d, d.owned != nil, nil
}

// diff writes what the active snapshot key changed into a temporary file.
func (m *Manager) diff(ctx context.Context, key string) (*Diff, error) {
	return m.diffWith(ctx, key, snapshot.WriteDiff)
}

// diffWith is diff, written by write.
func (m *Manager) diffWith(ctx context.Context, key string,
	write func(ctx context.Context, sn snapshot.Snapshotter, key string, w io.Writer) ([]archive.Change, error)) (*Diff, error) {
	f, err := os.CreateTemp(m.root, "diff-*.tar")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // open only: a crash leaves nothing behind
	h := digest.Canonical.Digester()
	changes, err := write(ctx, m.sn, key, io.MultiWriter(f, h.Hash()))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Diff{f: f, Changes: changes, DiffID: h.Digest()}, nil
}

// Close discards the diff's file, and the step's snapshot unless it was
// committed.
func (d *Diff) Close() error {
	err := d.f.Close()
	if d.owned != nil {
		err = errors.Join(err, d.owned.sn.Remove(context.Background(), d.owned.key))
		d.owned = nil
	}
	return err
}

func (d *Diff) rewound() (io.Reader, error) {
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return d.f, nil
}

// Store stores the diff as a gzip layer blob (its tar read again, and
// refused if it is not DiffID's any more). Call it while holding the
// store's Writing, until the layer is recorded where GC sees it.
func (d *Diff) Store(ctx context.Context, st *store.Store) (store.Layer, error) {
	r, err := d.rewound()
	if err != nil {
		return store.Layer{}, err
	}
	return st.AddLayerTar(ctx, r, d.DiffID)
}

// Write is Store up to the commit of the blob (store.WriteLayerTar).
func (d *Diff) Write(ctx context.Context, st *store.Store) (*store.WrittenLayer, error) {
	r, err := d.rewound()
	if err != nil {
		return nil, err
	}
	return st.WriteLayerTar(ctx, r, d.DiffID)
}

// UnpackDiff makes the diff, stored as layer diffID, the committed snapshot on
// top of the layers below (bottom first), so that what comes next runs on
// it, unless that stack is unpacked already. It returns the new chainID.
func (m *Manager) UnpackDiff(ctx context.Context, d *Diff, below []digest.Digest, diffID digest.Digest) (string, error) {
	chains := image.ChainIDs(append(append([]digest.Digest{}, below...), diffID))
	name := chains[len(chains)-1].String()
	if _, err := m.sn.Stat(ctx, name); err == nil {
		return name, nil
	}
	parent, err := m.UnpackLayers(ctx, below)
	if err != nil {
		return "", err
	}
	if o := d.owned; o != nil {
		// The step's own files are the layer, in overlay form, as the
		// diff was made from them: committed as they are, onto the layers
		// below (a RUN step's sat on its init layer too), they are not
		// written a second time.
		err := o.sn.CommitOnto(ctx, name, o.key, parent)
		if err == nil {
			d.owned = nil
		}
		if err == nil || errdefs.IsAlreadyExists(err) { // or another process committed name meanwhile
			return name, nil
		}
		return "", err
	}
	r, err := d.rewound()
	if err != nil {
		return "", err
	}
	return name, snapshot.UnpackLayer(ctx, m.sn, name, parent, r, diffID)
}

// Step is one RUN of a build: a command in a throwaway container on a stack
// of layers, which is not an image of the store (yet).
type Step struct {
	DiffIDs []digest.Digest       // the layers it runs on, bottom first
	Config  image.ContainerConfig // its environment, user and working directory
	Args    []string              // the command
	// Network is the step's network: "" for the default one (as `run`'s:
	// outbound access, no reach into the host's loopback), "none" (a
	// loopback only) or "host" (the host's own, no isolation).
	Network string
	// Files are host files bind-mounted read-only at container paths (the
	// scripts of heredocs).
	Files map[string]string
	// AddHosts are NAME:IP entries added to its /etc/hosts (--add-host).
	AddHosts []string
	// Volumes are the step's own mounts (RUN --mount); the mount points
	// they need are not part of what the step changed.
	Volumes        []runtime.Volume
	Stdout, Stderr io.Writer
}

// RunStep runs a build step with runc, as `run` runs a container, and
// returns its exit status and, when it succeeded, what it changed. Nothing
// of the container is left behind, nor recorded among the containers.
func (m *Manager) RunStep(ctx context.Context, s Step) (int, *Diff, error) {
	chain, err := m.UnpackLayers(ctx, s.DiffIDs)
	if err != nil {
		return 125, nil, err
	}
	runc, err := m.runc()
	if err != nil {
		return 125, nil, err
	}
	parent, err := m.initLayer(ctx, chain)
	if err != nil {
		return 125, nil, err
	}
	id := randomHex(32)
	dir := m.dir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 125, nil, err
	}
	key := snapshotKey(id)
	kept := false // by the diff
	defer func() {
		ctx := context.WithoutCancel(ctx)
		if runc.Known(id) { // a step runc did not see through
			runc.Delete(ctx, id)
		}
		if !kept {
			m.sn.Remove(ctx, key)
		}
		os.RemoveAll(dir)
	}()
	o := runtime.Options{Network: s.Network, ExtraHosts: s.AddHosts}
	for dst, src := range s.Files {
		o.Volumes = append(o.Volumes, runtime.Volume{Source: src, Target: dst, ReadOnly: true})
	}
	o.Volumes = append(o.Volumes, s.Volumes...)
	c := Container{Container: store.Container{ID: id}, Settings: Settings{Args: s.Args, Config: s.Config,
		Options: o, Hostname: id[:12], Parent: parent}}
	if err := m.checkNetwork(o.Network); err != nil {
		return 125, nil, err
	}
	if _, err := m.sn.Prepare(ctx, key, parent, map[string]string{"strata.build": id, snapshot.LabelVolatile: "1"}); err != nil {
		return 125, nil, err
	}
	var stubs []string
	for _, v := range s.Volumes {
		stubs = append(stubs, v.Target)
	}
	code, err := m.run(context.WithoutCancel(ctx), runc, c, IO{Stdout: s.Stdout, Stderr: s.Stderr}, stubs, false)
	if err != nil {
		var ee *runtime.ExecError
		if errors.As(err, &ee) {
			return ee.Code, nil, err
		}
		return code, nil, err
	}
	if code != 0 {
		return code, nil, nil
	}
	d, kept, err := m.stepDiff(ctx, key)
	if err != nil {
		return 125, nil, fmt.Errorf("the changes of the step: %w", err)
	}
	return 0, d, nil
}

// Change prepares a writable snapshot on the layers diffIDs, mounts it for
// fn, and returns what fn changed: how a build's COPY and WORKDIR change
// files without a container.
func (m *Manager) Change(ctx context.Context, diffIDs []digest.Digest, fn func(root string) error) (*Diff, error) {
	chain, err := m.UnpackLayers(ctx, diffIDs)
	if err != nil {
		return nil, err
	}
	key := "change-" + randomHex(12)
	mounts, err := m.sn.Prepare(ctx, key, chain, map[string]string{snapshot.LabelVolatile: "1"})
	if err != nil {
		return nil, err
	}
	kept := false // by the diff
	defer func() {
		if !kept {
			m.sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	if err := snapshot.WithTempMount(ctx, m.sn, mounts, fn); err != nil {
		return nil, err
	}
	d, kept, err := m.stepDiff(ctx, key)
	return d, err
}

// View mounts a read-only view of the layers diffIDs for fn: what a
// build's COPY --from reads.
func (m *Manager) View(ctx context.Context, diffIDs []digest.Digest, fn func(root string) error) error {
	chain, err := m.UnpackLayers(ctx, diffIDs)
	if err != nil {
		return err
	}
	if chain == "" { // no layers: an empty file system
		dir, err := snapshot.TempDir(m.sn, "empty-")
		if err != nil {
			return err
		}
		defer os.Remove(dir)
		return fn(dir)
	}
	key := "view-" + randomHex(12)
	mounts, err := m.sn.View(ctx, key, chain, nil)
	if err != nil {
		return err
	}
	defer m.sn.Remove(context.WithoutCancel(ctx), key)
	return snapshot.WithTempMount(ctx, m.sn, mounts, fn)
}
