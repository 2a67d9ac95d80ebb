package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/image"
)

// ImportOptions say how a rootfs tarball becomes an image.
type ImportOptions struct {
	Changes  []string              // Dockerfile instructions: CMD, ENV, WORKDIR, ...
	Message  string                // the history comment; default "Imported from SOURCE"
	Source   string                // where the tarball came from: a file, a directory, "-"
	Tag      reference.NamedTagged // optional
	Platform image.Platform        // default: this machine's
	Created  time.Time             // default: now
}

// Import makes a one-layer image of a rootfs tarball (uncompressed, gzip or
// zstd), like `docker import`: the layer is checked, compressed once with
// gzip and stored with an OCI manifest and a config whose history records
// where it came from.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (Image, error) {
	var cfg image.Config
	for _, c := range opts.Changes {
		if err := image.ApplyChange(&cfg.Config, c); err != nil {
			return Image{}, err
		}
	}
	release, err := s.Writing()
	if err != nil {
		return Image{}, err
	}
	defer release()
	tarStream := Uncompressed(r)
	defer tarStream.Close()
	layer, err := s.AddLayerTar(ctx, tarStream, "")
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", opts.Source, err)
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	p := opts.Platform
	if p.OS == "" {
		p = image.DefaultPlatform()
	}
	comment := opts.Message
	if comment == "" {
		// What docker records for a file or standard input: its CLI sends either as a stream.
		comment = "Imported from -"
	}
	cfg.Created, cfg.OS, cfg.Architecture, cfg.Variant = &created, p.OS, p.Architecture, p.Variant
	cfg.Comment = comment
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.DiffID}}
	cfg.History = []image.History{{Created: &created, Comment: comment}}
	cb, err := json.Marshal(&cfg)
	if err != nil {
		return Image{}, err
	}
	cdesc, err := s.AddJSON(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		return Image{}, err
	}
	n, err := s.WriteManifest(ctx, cdesc, []Layer{layer})
	if err != nil {
		return Image{}, err
	}
	if opts.Tag != nil {
		n.Tags = []reference.NamedTagged{opts.Tag}
	}
	return s.Add(ctx, n)
}

// WriteManifest stores an OCI manifest over a config and layers that are
// stored, and returns the image to Add.
func (s *Store) WriteManifest(ctx context.Context, config ocispec.Descriptor, layers []Layer) (NewImage, error) {
	m := image.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.Blob)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return NewImage{}, err
	}
	mdesc, err := s.AddJSON(ctx, m.MediaType, mb)
	if err != nil {
		return NewImage{}, err
	}
	return NewImage{Manifest: mdesc, Layers: layers}, nil
}

// AddJSON stores a small document (a manifest, a config) as a blob.
func (s *Store) AddJSON(ctx context.Context, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	_, err := content.WriteBlob(ctx, s.content, newRef("json"), bytes.NewReader(b), desc)
	return desc, err
}
