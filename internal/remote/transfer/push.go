package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
)

// DefaultConcurrentUploads is Docker's --max-concurrent-uploads default.
const DefaultConcurrentUploads = 5

// maxMountSources bounds the repositories a push asks to mount from (each is
// a scope in the token, and a request per blob at worst).
const maxMountSources = 8

// PushOptions tune Push.
type PushOptions struct {
	// MaxConcurrent bounds parallel uploads; 0 means 5.
	MaxConcurrent int
	// ChunkSize is passed to the registry client: blobs bigger go in chunks.
	ChunkSize int64
	Progress  Progress
}

// PushResult is what a push did.
type PushResult struct {
	Digest digest.Digest // of the manifest pushed
	Size   int64
}

// pusher is one push in progress.
type pusher struct {
	s    *store.Store
	repo *remote.Repository
	opts PushOptions
	// sources are, per blob, the other repositories of the registry that hold it.
	sources map[digest.Digest][]string
}

// Push sends the local image tag names to its registry, under that tag. See
// the package doc for what it does not send.
func Push(ctx context.Context, s *store.Store, c *remote.Client, tag reference.NamedTagged, opts PushOptions) (PushResult, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultConcurrentUploads
	}
	img, err := s.Resolve(ctx, tag.String())
	if errdefs.IsNotFound(err) {
		return PushResult{}, fmt.Errorf("an image does not exist locally with the tag: %s: %w", image.FamiliarString(tag), errdefs.ErrNotFound)
	}
	if err != nil {
		return PushResult{}, err
	}
	release, err := s.Writing()
	if err != nil {
		return PushResult{}, err
	}
	defer release()
	mdesc, body, m, err := pushableManifest(ctx, s, img)
	if err != nil {
		return PushResult{}, err
	}
	domain, path := reference.Domain(tag), reference.Path(tag)
	p := &pusher{s: s, opts: opts, sources: map[digest.Digest][]string{}}
	var from []string
	for _, d := range append([]image.Descriptor{m.Config}, m.Layers...) {
		repos, err := s.BlobSources(ctx, domain, d.Digest)
		if err != nil {
			return PushResult{}, err
		}
		for _, r := range repos {
			if r != path && len(from) < maxMountSources {
				p.sources[d.Digest] = append(p.sources[d.Digest], r)
				if !slices.Contains(from, r) {
					from = append(from, r)
				}
			}
		}
	}
	p.repo = c.Repository(domain, path, remote.Push, from...)

	for _, l := range m.Layers {
		opts.Progress.send(l.Digest, Preparing, 0, l.Size)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.MaxConcurrent)
	for _, l := range m.Layers {
		g.Go(func() error { return p.pushBlob(gctx, l, true) })
	}
	g.Go(func() error { return p.pushBlob(gctx, m.Config, false) })
	if err := g.Wait(); err != nil {
		return PushResult{}, err
	}
	dgst, err := p.repo.PushManifest(ctx, image.Tag(tag), mdesc.MediaType, body)
	if err != nil {
		return PushResult{}, err
	}
	blobs := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	if err := s.AddBlobSources(ctx, domain, path, blobs); err != nil {
		return PushResult{}, err
	}
	rd, err := image.WithDigest(tag, dgst)
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Digest: dgst, Size: mdesc.Size}, addNames(ctx, s, img, nil, rd)
}

// pushBlob makes the registry hold one blob: already there, mounted from
// another repository, or uploaded. show says whether it gets progress lines
// (layers do, the config does not, as in Docker).
func (p *pusher) pushBlob(ctx context.Context, desc image.Descriptor, show bool) error {
	progress := p.opts.Progress
	if !show {
		progress = nil
	}
	ok, err := p.repo.BlobExists(ctx, desc.Digest)
	if err != nil {
		return err
	}
	if ok {
		progress.send(desc.Digest, LayerExists, desc.Size, desc.Size)
		return nil
	}
	var session *remote.Upload
	for _, from := range p.sources[desc.Digest] {
		mounted, up, err := p.repo.Mount(ctx, desc.Digest, from)
		if err != nil {
			return err
		}
		if mounted {
			if progress != nil {
				progress(Event{ID: ShortID(desc.Digest), Digest: desc.Digest, Action: Mounted, From: from})
			}
			return nil
		}
		session = up // the last session opened is used for the upload
	}
	ra, err := p.s.Content().ReaderAt(ctx, desc)
	if err != nil {
		return fmt.Errorf("blob %s is not in the local store: %w", desc.Digest, err)
	}
	defer ra.Close()
	err = p.repo.PushBlob(ctx, desc, ra, remote.PushOptions{ChunkSize: p.opts.ChunkSize, Session: session,
		Progress: func(n int64) { progress.send(desc.Digest, Pushing, n, desc.Size) }})
	if err != nil {
		return err
	}
	progress.send(desc.Digest, Pushed, desc.Size, desc.Size)
	return nil
}

// pushableManifest is the manifest to push for img: its own, unless some
// layers are stored uncompressed. Those are compressed (gzip) once and kept,
// with a manifest naming them, so pushing the image again sends the same
// blobs and the same manifest.
func pushableManifest(ctx context.Context, s *store.Store, img store.Image) (image.Descriptor, []byte, *image.Manifest, error) {
	body, err := s.ManifestBytes(ctx, img)
	if err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	m, err := image.ParseManifest(img.Manifest.MediaType, body)
	if err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	layers, err := s.ImageLayers(ctx, img)
	if err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	changed := false
	out := make([]store.Layer, len(layers))
	for i, l := range layers {
		out[i] = store.Layer{Blob: l.Blob, DiffID: l.DiffID, TarSize: l.TarSize, Size: l.Size}
		if image.LayerCompression(l.Blob.MediaType) != image.Uncompressed {
			continue
		}
		if out[i], err = compressed(ctx, s, l); err != nil {
			return image.Descriptor{}, nil, nil, err
		}
		out[i].Blob.MediaType = image.LayerMediaType(img.Manifest.MediaType, image.Gzip)
		changed = true
	}
	if !changed {
		return img.Manifest, body, m, nil
	}
	cm := *m
	cm.Layers = make([]image.Descriptor, len(out))
	for i, l := range out {
		cm.Layers[i] = l.Blob
	}
	if body, err = json.Marshal(cm); err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	mdesc, err := s.AddJSON(ctx, img.Manifest.MediaType, body)
	if err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	// Recorded as another manifest of the image, so that its blobs are kept.
	if _, err := s.Add(ctx, store.NewImage{Manifest: mdesc, Layers: out}); err != nil {
		return image.Descriptor{}, nil, nil, err
	}
	return mdesc, body, &cm, nil
}

// compressed is the gzip blob of an uncompressed layer: one stored already,
// or made now.
func compressed(ctx context.Context, s *store.Store, l store.LayerBlob) (store.Layer, error) {
	if lb, err := s.LayerByDiffID(ctx, l.DiffID); err == nil && image.LayerCompression(lb.Blob.MediaType) == image.Gzip {
		return store.Layer{Blob: lb.Blob, DiffID: lb.DiffID, TarSize: lb.TarSize, Size: lb.Size}, nil
	}
	ra, err := s.Content().ReaderAt(ctx, l.Blob)
	if err != nil {
		return store.Layer{}, err
	}
	defer ra.Close()
	return s.AddLayerTar(ctx, content.NewReader(ra), l.DiffID)
}
