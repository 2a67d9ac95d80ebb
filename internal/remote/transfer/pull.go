package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
)

// DefaultConcurrentDownloads is Docker's --max-concurrent-downloads default.
const DefaultConcurrentDownloads = 3

// PullOptions tune Pull.
type PullOptions struct {
	// Platform picks the image out of an index; the zero value means this
	// machine's. When set, a single-platform image for another one is refused.
	Platform image.Platform
	// MaxConcurrent bounds parallel layer downloads; 0 means 3.
	MaxConcurrent int
	// Unpacker, when set, unpacks each layer into a snapshot as soon as it
	// is stored, side by side where it can; otherwise only their blobs are
	// stored.
	Unpacker Unpacker
	Progress Progress
}

// PullResult is what a pull did.
type PullResult struct {
	Image    store.Image
	Digest   digest.Digest // what the reference resolved to: a manifest or an index
	UpToDate bool          // nothing was downloaded: the image was already here
}

// puller is one pull in progress.
type puller struct {
	s        *store.Store
	repo     *remote.Repository
	ref      reference.Named
	platform image.Platform
	explicit bool // the platform was asked for
	opts     PullOptions
	// checks bounds the store's layer checks running at once.
	checks chan struct{}
}

// Pull brings the image ref names (a tag or a digest) into the store, with
// ref's tag, and returns it. See the package doc for what it skips.
func Pull(ctx context.Context, s *store.Store, c *remote.Client, ref reference.Named, opts PullOptions) (PullResult, error) {
	p := &puller{s: s, ref: ref, platform: opts.Platform, explicit: opts.Platform.OS != "", opts: opts,
		repo: c.Repository(reference.Domain(ref), reference.Path(ref), remote.Pull)}
	if !p.explicit {
		p.platform = image.DefaultPlatform()
	}
	if p.opts.MaxConcurrent <= 0 {
		p.opts.MaxConcurrent = DefaultConcurrentDownloads
	}
	p.checks = make(chan struct{}, p.opts.MaxConcurrent)
	release, err := s.Writing()
	if err != nil {
		return PullResult{}, err
	}
	defer release()

	top := image.RefDigest(ref)
	if top == "" {
		desc, err := p.repo.Resolve(ctx, image.Tag(ref))
		if err != nil {
			return PullResult{}, err
		}
		top = desc.Digest
	}
	if img, ok, err := p.local(ctx, top); err != nil || ok {
		if err == nil {
			err = p.ensureUnpacked(ctx, img)
		}
		return PullResult{Image: img, Digest: top, UpToDate: ok}, err
	}
	desc, body, err := p.repo.FetchManifest(ctx, top.String())
	if err != nil {
		return PullResult{}, err
	}
	if image.IsIndex(desc.MediaType) {
		if desc, body, err = p.fromIndex(ctx, desc, body); err != nil {
			return PullResult{}, err
		}
		if img, ok, err := p.local(ctx, desc.Digest); err != nil || ok {
			if err == nil {
				err = p.name(ctx, img, top)
			}
			if err == nil {
				err = p.ensureUnpacked(ctx, img)
			}
			return PullResult{Image: img, Digest: top, UpToDate: ok}, err
		}
	}
	img, err := p.pullManifest(ctx, desc, body, top)
	return PullResult{Image: img, Digest: top}, err
}

// repoDigest is repository@dgst.
func (p *puller) repoDigest(dgst digest.Digest) (reference.Canonical, error) {
	return image.WithDigest(p.ref, dgst)
}

// tag is the reference's tag, nil when it names a digest.
func (p *puller) tag() reference.NamedTagged {
	t, _ := p.ref.(reference.NamedTagged)
	return t
}

// local finds a stored image whose manifest (or index, as its repo digest)
// is dgst and that runs on the wanted platform; it names it as asked.
func (p *puller) local(ctx context.Context, dgst digest.Digest) (store.Image, bool, error) {
	rd, err := p.repoDigest(dgst)
	if err != nil {
		return store.Image{}, false, err
	}
	img, err := p.s.Resolve(ctx, rd.String())
	if errdefs.IsNotFound(err) {
		return store.Image{}, false, nil
	}
	if err != nil {
		return store.Image{}, false, err
	}
	cb, err := p.s.Config(ctx, img)
	if err != nil {
		return store.Image{}, false, err
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil || !image.MatchPlatform(p.platform, cfg.Platform()) {
		return store.Image{}, false, nil
	}
	if err := p.name(ctx, img, dgst); err != nil {
		return store.Image{}, false, err
	}
	img, err = p.s.Get(ctx, img.ID)
	return img, err == nil, err
}

func (p *puller) name(ctx context.Context, img store.Image, dgst digest.Digest) error {
	rd, err := p.repoDigest(dgst)
	if err != nil {
		return err
	}
	return addNames(ctx, p.s, img, p.tag(), rd)
}

// ensureUnpacked unpacks what is missing of a stored image, when pulls unpack.
func (p *puller) ensureUnpacked(ctx context.Context, img store.Image) error {
	if p.opts.Unpacker == nil {
		return nil
	}
	layers, err := p.s.ImageLayers(ctx, img)
	if err != nil || len(layers) == 0 {
		return err
	}
	diffIDs := make([]digest.Digest, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.DiffID
	}
	if p.opts.Unpacker.Unpacked(ctx, image.ChainID(diffIDs)) {
		return nil
	}
	stack := p.opts.Unpacker.Stack(ctx, diffIDs)
	jobs := make([]*layerJob, len(layers))
	for i, l := range layers {
		jobs[i] = &layerJob{i: i, desc: l.Blob, blob: l.Blob, diffID: l.DiffID, ready: make(chan struct{}), unpack: !stack.Unpacked(i)}
		close(jobs[i].ready)
	}
	return p.unpackLayers(ctx, stack, jobs, nil)
}

// fromIndex picks the platform's manifest out of an index and fetches it.
func (p *puller) fromIndex(ctx context.Context, desc image.Descriptor, body []byte) (image.Descriptor, []byte, error) {
	idx, err := image.ParseIndex(desc.MediaType, body)
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("%s: %w", p.ref, err)
	}
	child, err := image.SelectManifest(idx, p.platform)
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("%s: %w", image.FamiliarString(p.ref), err)
	}
	mdesc, mbody, err := p.repo.FetchManifest(ctx, child.Digest.String())
	if err != nil {
		return image.Descriptor{}, nil, err
	}
	if !image.IsManifest(mdesc.MediaType) {
		return image.Descriptor{}, nil, fmt.Errorf("%s: the index entry for %s is a %s, not an image manifest: %w",
			p.ref, image.FormatPlatform(p.platform), mdesc.MediaType, errdefs.ErrInvalidArgument)
	}
	return mdesc, mbody, nil
}

// pullManifest fetches what a manifest names that is not here yet, then
// records the image. top is what the reference resolved to, its repo digest.
func (p *puller) pullManifest(ctx context.Context, desc image.Descriptor, body []byte, top digest.Digest) (store.Image, error) {
	m, err := image.ParseManifest(desc.MediaType, body)
	if err != nil {
		return store.Image{}, fmt.Errorf("%s: %w", p.ref, err)
	}
	if m.Config.MediaType == image.MediaTypeBuildKitCacheConfig {
		return store.Image{}, fmt.Errorf("%s: %w", image.FamiliarString(p.ref), image.ErrBuildCache)
	}
	cfg, err := p.fetchConfig(ctx, m.Config)
	if err != nil {
		return store.Image{}, err
	}
	if p.explicit && !image.MatchPlatform(p.platform, cfg.Platform()) {
		return store.Image{}, fmt.Errorf("%s is for %s, not %s: %w", image.FamiliarString(p.ref),
			image.FormatPlatform(cfg.Platform()), image.FormatPlatform(p.platform), errdefs.ErrNotFound)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return store.Image{}, fmt.Errorf("%s: the manifest lists %d layers but the config %d: %w",
			p.ref, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	layers, replaced, err := p.fetchLayers(ctx, m.Layers, cfg.RootFS.DiffIDs)
	if err != nil {
		return store.Image{}, err
	}
	if replaced {
		// Some layers are here in another compression: the image is kept with
		// a manifest naming the blobs that are here. Its ID (the config digest)
		// and its repo digest are the registry's.
		if desc, body, err = localManifest(desc.MediaType, m, layers); err != nil {
			return store.Image{}, err
		}
	}
	mdesc, err := p.s.AddJSON(ctx, desc.MediaType, body)
	if err != nil {
		return store.Image{}, err
	}
	rd, err := p.repoDigest(top)
	if err != nil {
		return store.Image{}, err
	}
	n := store.NewImage{Manifest: mdesc, Layers: layers, RepoDigests: []reference.Canonical{rd}}
	if t := p.tag(); t != nil {
		n.Tags = []reference.NamedTagged{t}
	}
	img, err := p.s.Add(ctx, n)
	if err != nil {
		return store.Image{}, err
	}
	blobs := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	return img, p.s.AddBlobSources(ctx, p.repo.Domain, p.repo.Name, blobs)
}

// localManifest rewrites m to name the layer blobs that are stored.
func localManifest(mediaType string, m *image.Manifest, layers []store.Layer) (image.Descriptor, []byte, error) {
	out := *m
	out.Layers = make([]image.Descriptor, len(layers))
	for i, l := range layers {
		out.Layers[i] = l.Blob
		if image.LayerCompression(l.Blob.MediaType) == image.Zstd && mediaType == image.MediaTypeDockerManifest {
			mediaType = ocispec.MediaTypeImageManifest // Docker's schema has no zstd layers
			out.MediaType = mediaType
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return image.Descriptor{}, nil, err
	}
	return image.Descriptor{MediaType: mediaType, Digest: image.Digest(b), Size: int64(len(b))}, b, nil
}

// fetchConfig reads the config from the store, or the registry.
func (p *puller) fetchConfig(ctx context.Context, desc image.Descriptor) (*image.Config, error) {
	if desc.Size > image.MaxManifestSize {
		return nil, fmt.Errorf("%s: config of %d bytes is too big: %w", p.ref, desc.Size, errdefs.ErrInvalidArgument)
	}
	if err := p.download(ctx, desc, nil); err != nil {
		return nil, err
	}
	b, err := content.ReadBlob(ctx, p.s.Content(), desc, image.MaxManifestSize)
	if err != nil {
		return nil, err
	}
	cfg, err := image.ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.ref, err)
	}
	return cfg, nil
}

// layerJob is one layer of a pull.
type layerJob struct {
	i      int
	desc   image.Descriptor // as the manifest names it
	blob   image.Descriptor // what it unpacks from: desc, or a stored blob of its diffID
	diffID digest.Digest
	ready  chan struct{} // closed once blob is stored
	fetch  bool          // downloaded by this pull (it has progress lines)
	unpack bool          // unpacked by this pull
}

// fetchLayers stores every layer, downloading those that are not here, in
// parallel, and unpacks them as they arrive when there is an Unpacker.
// replaced reports that a layer is here in another blob than the manifest
// names (another compression of the same diffID).
func (p *puller) fetchLayers(ctx context.Context, descs []image.Descriptor, diffIDs []digest.Digest) (layers []store.Layer, replaced bool, err error) {
	layers = make([]store.Layer, len(descs))
	jobs := make([]*layerJob, len(descs))
	for i, d := range descs {
		j := &layerJob{i: i, desc: d, blob: d, diffID: diffIDs[i], ready: make(chan struct{}), fetch: true}
		have, err := p.stored(ctx, d, diffIDs[i])
		if err != nil {
			return nil, false, err
		}
		if have != nil {
			layers[i], j.blob, j.fetch = *have, have.Blob, false
			replaced = replaced || have.Blob.Digest != d.Digest
			close(j.ready)
			p.opts.Progress.send(d.Digest, AlreadyExists, 0, d.Size)
		} else {
			p.opts.Progress.send(d.Digest, PullingFSLayer, 0, d.Size)
		}
		jobs[i] = j
	}
	// With an unpacker, a layer downloaded is checked as it unpacks, as soon
	// as it is stored: its blob is decompressed once. Other layers are
	// checked by the store.
	unpacked := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.opts.Unpacker != nil {
		stack := p.opts.Unpacker.Stack(ctx, diffIDs)
		for _, j := range jobs {
			j.unpack = !stack.Unpacked(j.i)
		}
		record := func(j *layerJob, l store.Layer) {
			if j.fetch {
				layers[j.i] = l
			}
		}
		go func() {
			err := p.unpackLayers(ctx, stack, jobs, record)
			if err != nil {
				cancel()
			}
			unpacked <- err
		}()
	} else {
		unpacked <- nil
	}
	err = p.downloadLayers(ctx, jobs, layers)
	if err != nil {
		cancel() // the unpacking waits for no more layers
	}
	if uerr := <-unpacked; err == nil && uerr != nil {
		err = fmt.Errorf("%s: unpack: %w", p.ref, uerr)
	}
	if err != nil {
		return nil, false, err
	}
	return layers, replaced, nil
}

// downloadLayers downloads the layers to fetch, MaxConcurrent at a time, in
// layer order; a layer's checks run after its download has freed its place.
// The store checks the layers that are not unpacked (into layers).
func (p *puller) downloadLayers(ctx context.Context, jobs []*layerJob, layers []store.Layer) error {
	g, gctx := errgroup.WithContext(ctx)
	downloads := make(chan struct{}, p.opts.MaxConcurrent)
	for _, j := range jobs {
		if !j.fetch {
			continue
		}
		select {
		case downloads <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			l, err := p.fetchLayer(gctx, j, downloads)
			if err == nil && !j.unpack {
				layers[j.i] = l
			}
			return err
		})
	}
	return g.Wait()
}

// stored returns the layer when it is here already: its blob (its facts come
// from the store, nothing is fetched), or another blob with its diffID.
func (p *puller) stored(ctx context.Context, d image.Descriptor, diffID digest.Digest) (*store.Layer, error) {
	if _, err := p.s.Content().Info(ctx, d.Digest); err == nil {
		l, err := p.s.AddLayerBlob(ctx, http.NoBody, d, diffID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.ref, err)
		}
		return &l, nil
	}
	lb, err := p.s.LayerByDiffID(ctx, diffID)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &store.Layer{Blob: lb.Blob, DiffID: lb.DiffID, TarSize: lb.TarSize, Size: lb.Size}, nil
}

// fetchLayer downloads one layer, frees its place in downloads, and closes
// j.ready. A layer that unpacks is checked by its unpacking; others are
// stored by the store, which checks their diffIDs, and returned.
func (p *puller) fetchLayer(ctx context.Context, j *layerJob, downloads chan struct{}) (store.Layer, error) {
	err := p.download(ctx, j.desc, p.opts.Progress)
	<-downloads
	if err != nil {
		return store.Layer{}, err
	}
	p.opts.Progress.send(j.desc.Digest, Extracting, 0, j.desc.Size)
	close(j.ready) // after Extracting: the unpacking may end now
	if j.unpack {
		return store.Layer{}, nil
	}
	select {
	case p.checks <- struct{}{}:
	case <-ctx.Done():
		return store.Layer{}, ctx.Err()
	}
	l, err := p.s.AddLayerBlob(ctx, http.NoBody, j.desc, j.diffID)
	<-p.checks
	if err != nil {
		return store.Layer{}, fmt.Errorf("%s: %w", p.ref, err)
	}
	p.opts.Progress.send(j.desc.Digest, PullComplete, j.desc.Size, j.desc.Size)
	return l, nil
}
