package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// Layer describes one layer of an image being added: the blob that carries
// it (already in the content store) and what it holds.
type Layer struct {
	Blob    ocispec.Descriptor // as the manifest lists it
	DiffID  digest.Digest      // digest of the uncompressed tar
	TarSize int64              // bytes of the uncompressed tar
	Size    int64              // unpacked file bytes, as Docker's Size counts them
}

// NewImage is an image to add; its manifest, config and layer blobs must be
// in the content store already (written while holding Writing).
type NewImage struct {
	Manifest    ocispec.Descriptor
	Layers      []Layer // in manifest order
	Tags        []reference.NamedTagged
	RepoDigests []reference.Canonical
	// Derived says the image was made here from stored images (commit,
	// build): Add records the longest of them it extends as its parent.
	Derived bool
}

func readBlob(ctx context.Context, p content.Provider, dgst digest.Digest) ([]byte, error) {
	return content.ReadBlob(ctx, p, ocispec.Descriptor{Digest: dgst}, image.MaxManifestSize)
}

// checkNew verifies that the manifest, config and layers agree with each
// other and with what is stored, and returns the parsed config.
func (s *Store) checkNew(ctx context.Context, n NewImage) (*image.Manifest, *image.Config, error) {
	mb, err := readBlob(ctx, s.content, n.Manifest.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", n.Manifest.Digest, err)
	}
	m, err := image.ParseManifest(n.Manifest.MediaType, mb)
	if err != nil {
		return nil, nil, err
	}
	cb, err := readBlob(ctx, s.content, m.Config.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return nil, nil, err
	}
	if len(m.Layers) != len(n.Layers) || len(cfg.RootFS.DiffIDs) != len(n.Layers) {
		return nil, nil, fmt.Errorf("manifest lists %d layers and config %d, given %d: %w",
			len(m.Layers), len(cfg.RootFS.DiffIDs), len(n.Layers), errdefs.ErrInvalidArgument)
	}
	for i, l := range n.Layers {
		if l.Blob.Digest != m.Layers[i].Digest || l.DiffID != cfg.RootFS.DiffIDs[i] {
			return nil, nil, fmt.Errorf("layer %d: blob %s with diffID %s does not match manifest (%s) and config (%s): %w",
				i, l.Blob.Digest, l.DiffID, m.Layers[i].Digest, cfg.RootFS.DiffIDs[i], errdefs.ErrInvalidArgument)
		}
		if _, err := s.content.Info(ctx, l.Blob.Digest); err != nil {
			return nil, nil, fmt.Errorf("layer %d (%s): %w", i, l.Blob.Digest, err)
		}
	}
	return m, cfg, nil
}

// Add records an image whose blobs are stored, with its tags and repo
// digests, in one transaction. Adding an image that is already there keeps
// it and adds the names. A tag that named another image moves, as in Docker.
func (s *Store) Add(ctx context.Context, n NewImage) (Image, error) {
	m, cfg, err := s.checkNew(ctx, n)
	if err != nil {
		return Image{}, err
	}
	id := m.Config.Digest
	var created int64
	if cfg.Created != nil {
		created = cfg.Created.UnixNano()
	}
	var size int64
	for _, l := range n.Layers {
		size += l.Size
	}
	labels, _ := json.Marshal(cfg.Config.Labels)
	if cfg.Config.Labels == nil {
		labels = []byte("{}")
	}
	now := time.Now().UnixNano()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var parent digest.Digest
		if n.Derived {
			var err error
			if parent, err = s.findParent(ctx, tx, id, cfg); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO images (id, manifest, created, added, size, labels, parent)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, n.Manifest.Digest, created, now, size, string(labels), parent); err != nil {
			return err
		}
		if err := insertManifest(ctx, tx, id, n.Manifest, m); err != nil {
			return err
		}
		if err := insertLayers(ctx, tx, id, n.Layers); err != nil {
			return err
		}
		return insertNames(ctx, tx, id, n.Tags, n.RepoDigests)
	})
	if err != nil {
		return Image{}, fmt.Errorf("add image %s: %w", id, err)
	}
	img, err := s.Get(ctx, id)
	if err == nil && s.Unpack != nil {
		if err = s.Unpack(ctx, img); err != nil {
			err = fmt.Errorf("image %s is stored, but it cannot be unpacked to run: %w", shortID(id), err)
		}
	}
	return img, err
}

func insertManifest(ctx context.Context, tx *sql.Tx, id digest.Digest, desc ocispec.Descriptor, m *image.Manifest) error {
	var owner digest.Digest
	err := tx.QueryRowContext(ctx, `SELECT image_id FROM manifests WHERE digest = ?`, desc.Digest).Scan(&owner)
	if err == nil {
		return nil // already recorded
	}
	if err != sql.ErrNoRows {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO manifests (digest, media_type, size, image_id) VALUES (?, ?, ?, ?)`,
		desc.Digest, desc.MediaType, desc.Size, id); err != nil {
		return err
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_blobs (manifest, blob) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			desc.Digest, d.Digest); err != nil {
			return err
		}
	}
	return nil
}

func insertLayers(ctx context.Context, tx *sql.Tx, id digest.Digest, layers []Layer) error {
	diffIDs := make([]digest.Digest, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.DiffID
	}
	chains := image.ChainIDs(diffIDs)
	for i, l := range layers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO layers (diff_id, tar_size, unpacked_size) VALUES (?, ?, ?)
			ON CONFLICT (diff_id) DO NOTHING`, l.DiffID, l.TarSize, l.Size); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO layer_blobs (blob, diff_id, media_type, size) VALUES (?, ?, ?, ?)
			ON CONFLICT (blob) DO NOTHING`, l.Blob.Digest, l.DiffID, l.Blob.MediaType, l.Blob.Size); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_layers (image_id, idx, diff_id, chain_id) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, id, i, l.DiffID, chains[i]); err != nil {
			return err
		}
	}
	return nil
}

func insertNames(ctx context.Context, tx *sql.Tx, id digest.Digest, tags []reference.NamedTagged, digests []reference.Canonical) error {
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (name, repo, image_id) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id`, t.String(), t.Name(), id); err != nil {
			return err
		}
	}
	for _, d := range digests {
		if _, err := tx.ExecContext(ctx, `INSERT INTO repo_digests (repo, digest, image_id) VALUES (?, ?, ?)
			ON CONFLICT (repo, digest) DO UPDATE SET image_id = excluded.image_id`, d.Name(), d.Digest(), id); err != nil {
			return err
		}
	}
	return nil
}

// Tag names an image; a tag that named another image moves.
func (s *Store) Tag(ctx context.Context, id digest.Digest, tag reference.NamedTagged) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getImage(ctx, tx, id); err != nil {
			return err
		}
		if err := insertNames(ctx, tx, id, []reference.NamedTagged{tag}, nil); err != nil {
			return err
		}
		// As in Docker, only tagging an image that exists sets LastTagTime.
		_, err := tx.ExecContext(ctx, `UPDATE images SET last_tag_time = ? WHERE id = ?`, time.Now().UnixNano(), id)
		return err
	})
}
