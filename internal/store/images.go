package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// Image is a stored image as listings show it.
type Image struct {
	ID          digest.Digest      // config digest
	Manifest    ocispec.Descriptor // the manifest it is kept with
	Created     time.Time          // from its config; zero when it has none
	Added       time.Time          // when it came into this store
	LastTagTime time.Time
	Size        int64    // unpacked size of its layers, as Docker counts it
	Tags        []string // full names: docker.io/library/busybox:latest
	RepoDigests []string // full names: docker.io/library/busybox@sha256:...
	Labels      map[string]string
	// Parent is the stored image this one was made from (by commit or
	// build), "" for none; see parentSchema.
	Parent digest.Digest
}

// Config is the image's config blob, as stored.
func (s *Store) Config(ctx context.Context, img Image) ([]byte, error) {
	return s.readSmall(ctx, img.ID)
}

// ManifestBytes is the image's manifest blob, as stored.
func (s *Store) ManifestBytes(ctx context.Context, img Image) ([]byte, error) {
	return s.readSmall(ctx, img.Manifest.Digest)
}

func (s *Store) readSmall(ctx context.Context, dgst digest.Digest) ([]byte, error) {
	b, err := readBlob(ctx, s.content, dgst)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, fmt.Errorf("blob %s is missing from the store (was it removed by hand?): %w", dgst, errdefs.ErrNotFound)
	}
	return b, err
}

// imageQuery selects images with their names, in one pass: listing a
// thousand images is one query.
const imageQuery = `SELECT i.id, i.manifest, m.media_type, m.size, i.created, i.added, i.last_tag_time, i.size, i.labels, i.parent,
	(SELECT group_concat(name, char(10) ORDER BY name) FROM tags WHERE image_id = i.id),
	(SELECT group_concat(repo || '@' || digest, char(10) ORDER BY repo, digest) FROM repo_digests WHERE image_id = i.id)
	FROM images i JOIN manifests m ON m.digest = i.manifest`

func scanImage(rows interface{ Scan(...any) error }) (Image, error) {
	var img Image
	var created, added, tagged int64
	var labels string
	var tags, digests sql.NullString
	if err := rows.Scan(&img.ID, &img.Manifest.Digest, &img.Manifest.MediaType, &img.Manifest.Size,
		&created, &added, &tagged, &img.Size, &labels, &img.Parent, &tags, &digests); err != nil {
		return Image{}, err
	}
	if tags.Valid {
		img.Tags = strings.Split(tags.String, "\n")
	}
	if digests.Valid {
		img.RepoDigests = strings.Split(digests.String, "\n")
	}
	if created != 0 {
		img.Created = time.Unix(0, created).UTC()
	}
	img.Added = time.Unix(0, added).UTC()
	if tagged != 0 {
		img.LastTagTime = time.Unix(0, tagged).UTC()
	}
	if labels != "{}" {
		json.Unmarshal([]byte(labels), &img.Labels)
	}
	return img, nil
}

// Images lists every stored image with its tags and repo digests, newest first.
func (s *Store) Images(ctx context.Context) ([]Image, error) {
	rows, err := s.db.QueryContext(ctx, imageQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Get returns one image by ID.
func (s *Store) Get(ctx context.Context, id digest.Digest) (Image, error) {
	var img Image
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		img, err = getImage(ctx, tx, id)
		return err
	})
	return img, err
}

func getImage(ctx context.Context, tx *sql.Tx, id digest.Digest) (Image, error) {
	img, err := scanImage(tx.QueryRowContext(ctx, imageQuery+` WHERE i.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Image{}, fmt.Errorf("No such image: %s: %w", id, errdefs.ErrNotFound)
	}
	return img, err
}

// Resolve finds the image that name means, as Docker does: a full or short
// image ID (with or without "sha256:"), a tag ("busybox" is
// docker.io/library/busybox:latest), or repository@digest.
func (s *Store) Resolve(ctx context.Context, name string) (Image, error) {
	var img Image
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		id, _, err := resolveID(ctx, tx, name)
		if err != nil {
			return err
		}
		img, err = getImage(ctx, tx, id)
		return err
	})
	return img, err
}

// resolveID finds the image name means; ref is the tag or repo digest it
// went through, nil when name was an image ID.
func resolveID(ctx context.Context, tx *sql.Tx, name string) (id digest.Digest, ref reference.Named, err error) {
	if hex, ok := strings.CutPrefix(name, "sha256:"); ok {
		if !isHex(hex) {
			return "", nil, fmt.Errorf("invalid image ID %q: %w", name, errdefs.ErrInvalidArgument)
		}
		id, err := idByPrefix(ctx, tx, name, hex)
		return id, nil, err
	}
	ref, perr := image.ParseTagged(name)
	if perr == nil {
		var q *sql.Row
		if d := image.RefDigest(ref); d != "" {
			q = tx.QueryRowContext(ctx, `SELECT image_id FROM repo_digests WHERE repo = ? AND digest = ?
				UNION SELECT image_id FROM manifests WHERE digest = ? LIMIT 1`, ref.Name(), d, d)
		} else {
			q = tx.QueryRowContext(ctx, `SELECT image_id FROM tags WHERE name = ?`, ref.String())
		}
		if err := q.Scan(&id); err == nil {
			return id, ref, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return "", nil, err
		}
	}
	if isHex(name) {
		id, err := idByPrefix(ctx, tx, name, name)
		return id, nil, err
	}
	if perr != nil {
		return "", nil, perr
	}
	return "", nil, fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
}

func idByPrefix(ctx context.Context, tx *sql.Tx, name, hex string) (digest.Digest, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2`,
		"sha256:"+hex, "sha256:"+hex+"g")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []digest.Digest
	for rows.Next() {
		var id digest.Digest
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("image ID prefix %q is ambiguous: give more of it: %w", name, errdefs.ErrInvalidArgument)
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// LayerSizes maps each diffID of the image to its unpacked size.
func (s *Store) LayerSizes(ctx context.Context, id digest.Digest) (map[digest.Digest]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.diff_id, l.unpacked_size FROM image_layers il
		JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[digest.Digest]int64{}
	for rows.Next() {
		var d digest.Digest
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, err
		}
		out[d] = n
	}
	return out, rows.Err()
}

// LayerBlob is a stored blob that carries a layer.
type LayerBlob struct {
	Blob    ocispec.Descriptor
	DiffID  digest.Digest
	TarSize int64
	Size    int64 // unpacked
}

// LayerByDiffID finds a stored blob carrying the layer diffID, preferring
// gzip (what registries expect); errdefs.ErrNotFound when there is none.
func (s *Store) LayerByDiffID(ctx context.Context, diffID digest.Digest) (LayerBlob, error) {
	var lb LayerBlob
	err := s.db.QueryRowContext(ctx, `SELECT b.blob, b.media_type, b.size, l.diff_id, l.tar_size, l.unpacked_size
		FROM layer_blobs b JOIN layers l ON l.diff_id = b.diff_id WHERE b.diff_id = ?
		ORDER BY (b.media_type LIKE '%gzip') DESC LIMIT 1`, diffID).
		Scan(&lb.Blob.Digest, &lb.Blob.MediaType, &lb.Blob.Size, &lb.DiffID, &lb.TarSize, &lb.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return LayerBlob{}, fmt.Errorf("layer %s: %w", diffID, errdefs.ErrNotFound)
	}
	return lb, err
}

// ImageLayers lists an image's layers, bottom first: the blob its manifest
// names for each, with the layer's diffID and sizes.
func (s *Store) ImageLayers(ctx context.Context, img Image) ([]LayerBlob, error) {
	mb, err := s.ManifestBytes(ctx, img)
	if err != nil {
		return nil, err
	}
	m, err := image.ParseManifest(img.Manifest.MediaType, mb)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT il.diff_id, l.tar_size, l.unpacked_size FROM image_layers il
		JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ? ORDER BY il.idx`, img.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LayerBlob
	for rows.Next() {
		var lb LayerBlob
		if err := rows.Scan(&lb.DiffID, &lb.TarSize, &lb.Size); err != nil {
			return nil, err
		}
		if len(out) >= len(m.Layers) {
			return nil, fmt.Errorf("image %s: its manifest lists fewer layers than the store: %w", img.ID, errdefs.ErrConflict)
		}
		lb.Blob = m.Layers[len(out)]
		out = append(out, lb)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: its manifest lists %d layers, the store %d: %w", img.ID, len(m.Layers), len(out), errdefs.ErrConflict)
	}
	return out, nil
}
