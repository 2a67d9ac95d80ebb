package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/image"
)

// parentSchema is the migration that records parents. An image made here
// from stored images (commit, build) has as its parent the longest stored
// image it extends: one whose history entries and layers are a prefix of
// its own, as Docker's parent chain gives for the images it makes. Pulled,
// loaded and imported images have none, as in Docker. A parent that is
// deleted hands its children to its own parent (see deleteImage).
const parentSchema = `ALTER TABLE images ADD COLUMN parent TEXT NOT NULL DEFAULT '';
CREATE INDEX images_parent ON images(parent);`

// findParent returns the longest stored image (other than self) whose
// history entries and layers are a proper prefix of cfg's, "" for none. Its
// candidates come from the chainID index: an image whose top layer is one
// of cfg's stacks, or that has no layers.
func (s *Store) findParent(ctx context.Context, tx *sql.Tx, self digest.Digest, cfg *image.Config) (digest.Digest, error) {
	if _, err := cfg.LayerHistory(); err != nil || len(cfg.History) < 2 {
		return "", nil // a history that does not describe the layers proves no descent
	}
	var candidates []digest.Digest
	add := func(q string, args ...any) error {
		ids, err := queryDigests(ctx, tx, q, args...)
		candidates = append(candidates, ids...)
		return err
	}
	if err := add(`SELECT id FROM images WHERE NOT EXISTS (SELECT 1 FROM image_layers WHERE image_id = images.id)`); err != nil {
		return "", err
	}
	for i, chain := range image.ChainIDs(cfg.RootFS.DiffIDs) {
		if err := add(`SELECT il.image_id FROM image_layers il WHERE il.chain_id = ? AND il.idx = ? AND NOT EXISTS
			(SELECT 1 FROM image_layers o WHERE o.image_id = il.image_id AND o.idx > il.idx)`, chain, i); err != nil {
			return "", err
		}
	}
	type found struct {
		id      digest.Digest
		history int
		added   int64
	}
	var best []found
	for _, id := range candidates {
		if id == self {
			continue
		}
		b, err := readBlob(ctx, s.content, id)
		if err != nil {
			return "", fmt.Errorf("config of image %s: %w", shortID(id), err)
		}
		pc, err := image.ParseConfig(b)
		if err != nil || !extends(cfg, pc) {
			continue
		}
		var added int64
		if err := tx.QueryRowContext(ctx, `SELECT added FROM images WHERE id = ?`, id).Scan(&added); err != nil {
			return "", err
		}
		best = append(best, found{id, len(pc.History), added})
	}
	if len(best) == 0 {
		return "", nil
	}
	// The longest; among equals (the same history and layers) the first stored.
	sort.Slice(best, func(i, j int) bool {
		a, b := best[i], best[j]
		if a.history != b.history {
			return a.history > b.history
		}
		if a.added != b.added {
			return a.added < b.added
		}
		return a.id < b.id
	})
	return best[0].id, nil
}

// extends reports whether the image of config c was made from that of p:
// p's history entries are the first of c's, and fewer, and its layers are
// c's first layers.
func extends(c, p *image.Config) bool {
	if len(p.History) == 0 || len(p.History) >= len(c.History) || len(p.RootFS.DiffIDs) > len(c.RootFS.DiffIDs) {
		return false
	}
	if _, err := p.LayerHistory(); err != nil {
		return false
	}
	for i, d := range p.RootFS.DiffIDs {
		if c.RootFS.DiffIDs[i] != d {
			return false
		}
	}
	layers := 0
	for i, h := range p.History {
		if !sameEntry(h, c.History[i]) {
			return false
		}
		if !h.EmptyLayer {
			layers++
		}
	}
	return layers == len(p.RootFS.DiffIDs)
}

func sameEntry(a, b image.History) bool {
	if (a.Created == nil) != (b.Created == nil) || a.Created != nil && !a.Created.Equal(*b.Created) {
		return false
	}
	return a.CreatedBy == b.CreatedBy && a.Author == b.Author && a.Comment == b.Comment && a.EmptyLayer == b.EmptyLayer
}

// Ancestors lists img's parent, its parent's parent, and so on: the stored
// images it was made from, nearest first.
func (s *Store) Ancestors(ctx context.Context, img Image) ([]Image, error) {
	var out []Image
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		seen := map[digest.Digest]bool{img.ID: true}
		for p := img.Parent; p != "" && !seen[p]; {
			seen[p] = true
			a, err := getImage(ctx, tx, p)
			if err != nil {
				return err
			}
			out = append(out, a)
			p = a.Parent
		}
		return nil
	})
	return out, err
}
