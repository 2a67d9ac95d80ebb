package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// Diff lists what the container changed in its image, as `docker diff`.
func (m *Manager) Diff(ctx context.Context, ref string) ([]archive.Change, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return snapshot.Changes(ctx, m.sn, snapshotKey(c.ID))
}

// CommitOptions are `strata commit` flags.
type CommitOptions struct {
	Ref     string   // REPOSITORY[:TAG]; "" for an untagged image
	Message string   // -m
	Author  string   // -a
	Changes []string // -c: Dockerfile instructions applied to the config
}

// Commit makes a new image of the container: its image's layers plus one
// layer of what the container changed (deletions as whiteouts, gzip), a
// config that runs as the container ran (its command, env, user, working
// dir) with the changes applied, and a history entry, as `docker commit`.
// The new layer is unpacked too, so the image runs at once.
func (m *Manager) Commit(ctx context.Context, ref string, o CommitOptions) (store.Image, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return store.Image{}, err
	}
	var tags []reference.NamedTagged
	if o.Ref != "" {
		tag, err := image.ParseTag(o.Ref)
		if err != nil {
			return store.Image{}, err
		}
		tags = append(tags, tag)
	}
	base, err := m.store.Get(ctx, c.ImageID)
	if err != nil {
		return store.Image{}, fmt.Errorf("the container's image is gone: %w", err)
	}
	cfg, err := m.ImageConfig(ctx, base)
	if err != nil {
		return store.Image{}, err
	}
	if err := commitConfig(cfg, c, o); err != nil {
		return store.Image{}, err
	}
	d, err := m.diff(ctx, snapshotKey(c.ID))
	if err != nil {
		return store.Image{}, err
	}
	defer d.Close()
	below := append([]digest.Digest{}, cfg.RootFS.DiffIDs...)
	img, err := m.addCommitted(ctx, base, cfg, d, tags)
	if err != nil {
		return store.Image{}, err
	}
	// Unpack the new layer now, on the image's own stack.
	_, err = m.UnpackDiff(ctx, d, below, cfg.RootFS.DiffIDs[len(cfg.RootFS.DiffIDs)-1])
	return img, err
}

// commitConfig turns the image's config into the committed image's.
func commitConfig(cfg *image.Config, c Container, o CommitOptions) error {
	s := c.Settings
	run := s.Config
	run.Env = runtime.Environment(s.Config, runtime.Options{Env: s.Options.Env}, "", "")
	run.Env = withoutDefaults(run.Env, s.Config.Env)
	entrypoint := s.Config.Entrypoint
	if s.Options.Entrypoint != nil {
		entrypoint = nil
		if e := *s.Options.Entrypoint; len(e) > 0 && e[0] != "" {
			entrypoint = e
		}
	}
	run.Entrypoint, run.Cmd = entrypoint, s.Args[len(entrypoint):]
	if s.Options.WorkingDir != "" {
		run.WorkingDir = s.Options.WorkingDir
	}
	if s.Options.User != "" {
		run.User = s.Options.User
	}
	run.Hostname = s.Hostname
	run.Tty, run.OpenStdin = s.Options.Tty, s.Options.Stdin
	for _, ch := range o.Changes {
		if err := image.ApplyChange(&run, ch); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	containerCfg := s.Config
	cfg.Created, cfg.Author, cfg.Comment = &now, o.Author, o.Message
	cfg.Config, cfg.Container, cfg.ContainerConfig = run, c.ID, &containerCfg
	cfg.DockerVersion = ""
	cfg.History = append(cfg.History, image.History{Created: &now, CreatedBy: strings.Join(s.Args, " "),
		Author: o.Author, Comment: o.Message})
	return nil
}

// withoutDefaults drops the variables Environment adds on its own (PATH,
// HOSTNAME, HOME) unless the image had them.
func withoutDefaults(env, image []string) []string {
	had := map[string]bool{}
	for _, kv := range image {
		k, _, _ := strings.Cut(kv, "=")
		had[k] = true
	}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if (k == "PATH" || k == "HOSTNAME" || k == "HOME") && !had[k] {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// addCommitted stores the diff as a layer and an image of base plus it, with
// config cfg (whose diffIDs and history get the new layer).
func (m *Manager) addCommitted(ctx context.Context, base store.Image, cfg *image.Config, d *Diff, tags []reference.NamedTagged) (store.Image, error) {
	release, err := m.store.Writing()
	if err != nil {
		return store.Image{}, err
	}
	defer release()
	layer, err := d.Store(ctx, m.store)
	if err != nil {
		return store.Image{}, err
	}
	baseLayers, err := m.store.ImageLayers(ctx, base)
	if err != nil {
		return store.Image{}, err
	}
	var layers []store.Layer
	for _, l := range baseLayers {
		layers = append(layers, store.Layer{Blob: l.Blob, DiffID: l.DiffID, TarSize: l.TarSize, Size: l.Size})
	}
	mt := base.Manifest.MediaType
	layer.Blob.MediaType = image.LayerMediaType(mt, image.Gzip)
	layers = append(layers, layer)
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer.DiffID)
	cb, err := json.Marshal(cfg)
	if err != nil {
		return store.Image{}, err
	}
	configType, manifest := ocispec.MediaTypeImageConfig, ocispec.Manifest{MediaType: mt}
	if mt == image.MediaTypeDockerManifest {
		configType = image.MediaTypeDockerConfig
	} else {
		mt, manifest.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageManifest
	}
	manifest.SchemaVersion = 2
	if manifest.Config, err = m.store.AddJSON(ctx, configType, cb); err != nil {
		return store.Image{}, err
	}
	for _, l := range layers {
		manifest.Layers = append(manifest.Layers, l.Blob)
	}
	mb, err := json.Marshal(manifest)
	if err != nil {
		return store.Image{}, err
	}
	desc, err := m.store.AddJSON(ctx, mt, mb)
	if err != nil {
		return store.Image{}, err
	}
	return m.store.Add(ctx, store.NewImage{Manifest: desc, Layers: layers, Tags: tags, Derived: true})
}

// Export writes the container's whole file system to w as a tar, as
// `docker export`.
func (m *Manager) Export(ctx context.Context, ref string, w io.Writer) error {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.Running() {
		// Its file system is mounted (without the container's own mounts,
		// which live in its mount namespace).
		return archive.WriteDir(ctx, w, filepath.Join(m.dir(c.ID), "rootfs"))
	}
	mounts, err := m.sn.Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return err
	}
	return snapshot.WithTempMount(ctx, m.sn, readOnly(mounts), func(root string) error {
		return archive.WriteDir(ctx, w, root)
	})
}

func readOnly(mounts []snapshot.Mount) []snapshot.Mount {
	out := append([]snapshot.Mount(nil), mounts...)
	for i := range out {
		out[i].Options = append([]string{"ro"}, out[i].Options...)
		for j, o := range out[i].Options {
			if o == "rw" {
				out[i].Options[j] = "ro"
			}
		}
	}
	return out
}

// MountImage mounts a read-only view of img's file system, nosuid and
// nodev, and returns where: mounts/ID under the store, which only root
// enters. Mounting an image twice gives the same place.
func (m *Manager) MountImage(ctx context.Context, img store.Image) (string, error) {
	_, chain, err := m.Unpack(ctx, img)
	if err != nil {
		return "", err
	}
	if chain == "" {
		return "", fmt.Errorf("image %s has no layers to mount: %w", img.ID.Encoded()[:12], errdefs.ErrInvalidArgument)
	}
	key := imageMountKey(img.ID)
	target := m.imageMountDir(img.ID)
	if _, err := m.sn.Stat(ctx, key); err == nil {
		return target, nil
	}
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	if err := os.Chmod(filepath.Dir(target), 0o700); err != nil { // one an older strata made 0755
		return "", err
	}
	mounts, err := m.sn.View(ctx, key, chain, map[string]string{"strata.image": img.ID.String()})
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(target, 0o755); err == nil || os.IsExist(err) {
		err = snapshot.MountPrivate(mounts, target)
	}
	if err != nil {
		m.sn.Remove(context.WithoutCancel(ctx), key)
		return "", err
	}
	return target, nil
}

func imageMountKey(id digest.Digest) string { return "image-mount-" + id.Encoded() }

func (m *Manager) imageMountDir(id digest.Digest) string {
	return filepath.Join(m.root, "mounts", id.Encoded())
}

// ImageMount says where img is mounted by MountImage, "" when it is not.
func (m *Manager) ImageMount(ctx context.Context, id digest.Digest) (string, error) {
	_, err := m.sn.Stat(ctx, imageMountKey(id))
	switch {
	case errdefs.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	return m.imageMountDir(id), nil
}

// UnmountImage undoes MountImage.
func (m *Manager) UnmountImage(ctx context.Context, id digest.Digest) error {
	key := imageMountKey(id)
	if _, err := m.sn.Stat(ctx, key); err != nil {
		return fmt.Errorf("image %s is not mounted: %w", id.Encoded()[:12], err)
	}
	target := m.imageMountDir(id)
	if err := snapshot.Unmount(target); err != nil {
		return err
	}
	os.Remove(target)
	return m.sn.Remove(ctx, key)
}

// PruneSnapshots removes the unpacked layers that no stored image, container
// or mount needs any more, and returns the bytes freed.
func (m *Manager) PruneSnapshots(ctx context.Context) (int64, error) {
	imgs, err := m.store.Images(ctx)
	if err != nil {
		return 0, err
	}
	keep, infos, err := m.keptSnapshots(ctx, imgs)
	if err != nil {
		return 0, err
	}
	var freed int64
	var errs []error
	gone := map[string]bool{}
	for removed := true; removed; { // children first: repeat until nothing more goes
		removed = false
		for _, i := range infos {
			if keep[i.Name] || gone[i.Name] {
				continue
			}
			u, _ := m.sn.Usage(ctx, i.Name)
			err := m.sn.Remove(ctx, i.Name)
			if errdefs.IsConflict(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
			} else {
				freed += u.Size
				removed = true
			}
			gone[i.Name] = true
		}
	}
	return freed, errors.Join(errs...)
}

// keptSnapshots lists every snapshot, and names those that PruneSnapshots
// keeps when imgs are the stored images: their layers and init layers, the
// snapshots that are not committed (containers, mounts, unpacks under way),
// and what each of those sits on.
func (m *Manager) keptSnapshots(ctx context.Context, imgs []store.Image) (map[string]bool, []snapshot.Info, error) {
	keep := map[string]bool{}
	for _, img := range imgs {
		cfg, err := m.ImageConfig(ctx, img)
		if err != nil {
			return nil, nil, err
		}
		for _, ch := range image.ChainIDs(cfg.RootFS.DiffIDs) {
			keep[ch.String()], keep["init-"+ch.String()] = true, true
		}
	}
	var infos []snapshot.Info
	if err := m.sn.Walk(ctx, func(i snapshot.Info) error { infos = append(infos, i); return nil }); err != nil {
		return nil, nil, err
	}
	parentOf := map[string]string{}
	for _, i := range infos {
		parentOf[i.Name] = i.Parent
		if i.Kind != snapshot.KindCommitted {
			keep[i.Name] = true
		}
	}
	for name := range keep { // what a kept snapshot sits on is kept
		for p := parentOf[name]; p != "" && !keep[p]; p = parentOf[p] {
			keep[p] = true
		}
	}
	return keep, infos, nil
}
