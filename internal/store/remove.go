package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// Event is one thing Remove or Prune did, as Docker reports it: an Untagged
// name or a Deleted image or layer (chainID).
type Event struct {
	Untagged string // full name: docker.io/library/busybox:latest
	Deleted  digest.Digest
}

// Removal is what Remove and Prune did.
type Removal struct {
	Events []Event
	// Freed is how many bytes of blobs that no image references any more
	// were deleted from the content store.
	Freed int64
}

// Remove untags or deletes what name means, like `docker rmi`: a tag is
// removed, and the image goes with its last tag; an image ID deletes the
// image, which needs force when its tags span repositories or something uses
// it. Blobs nobody references any more are reclaimed.
func (s *Store) Remove(ctx context.Context, name string, force bool) (Removal, error) {
	var r Removal
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, ref, err := resolveID(ctx, tx, name)
		if err != nil {
			return err
		}
		img, err := getImage(ctx, tx, id)
		if err != nil {
			return err
		}
		children, err := hasChildren(ctx, tx, id)
		if err != nil {
			return err
		}
		if ref != nil { // a tag or repo digest: untag; the image goes with its last tag
			if err := untag(ctx, tx, ref, &r); err != nil {
				return err
			}
			var tags int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tags WHERE image_id = ?`, id).Scan(&tags); err != nil || tags > 0 {
				return err
			}
			if children {
				return nil // docker keeps an untagged image that others were made from
			}
		} else if children {
			return fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image has dependent child images: %w",
				shortID(id), errdefs.ErrConflict)
		} else if repos := repositories(img); len(repos) > 1 && !force {
			return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories: %w",
				shortID(id), errdefs.ErrConflict)
		}
		if err := s.checkUnused(ctx, img, force); err != nil {
			return err
		}
		return deleteImage(ctx, tx, img, &r)
	})
	if err != nil {
		return Removal{}, err
	}
	freed, err := s.GC(ctx)
	r.Freed = freed
	return r, err
}

// untag removes one tag or repo digest.
func untag(ctx context.Context, tx *sql.Tx, ref reference.Named, r *Removal) error {
	var err error
	if d := image.RefDigest(ref); d != "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM repo_digests WHERE repo = ? AND digest = ?`, ref.Name(), d)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM tags WHERE name = ?`, ref.String())
	}
	if err == nil {
		r.Events = append(r.Events, Event{Untagged: ref.String()})
	}
	return err
}

func repositories(img Image) map[string]bool {
	repos := map[string]bool{}
	for _, t := range img.Tags {
		if ref, err := image.ParseReference(t); err == nil {
			repos[ref.Name()] = true
		}
	}
	return repos
}

func shortID(id digest.Digest) string { return id.Encoded()[:12] }

// checkUnused refuses, unless forced, to delete an image that something uses.
func (s *Store) checkUnused(ctx context.Context, img Image, force bool) error {
	if s.Mounted != nil { // even when forced: a removed image's mount would be left behind
		dir, err := s.Mounted(ctx, img.ID)
		if err != nil {
			return err
		}
		if dir != "" {
			return fmt.Errorf("conflict: unable to delete %s - image is mounted at %s; unmount it first with strata image unmount %s: %w",
				shortID(img.ID), dir, shortID(img.ID), errdefs.ErrConflict)
		}
	}
	if s.InUse == nil || force {
		return nil
	}
	users, err := s.InUse(ctx, img.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by container %s: %w",
			shortID(img.ID), strings.Join(users, ", "), errdefs.ErrConflict)
	}
	return nil
}

// deleteImage removes an image and its names, reporting the layers (by
// chainID) that no other image has.
func deleteImage(ctx context.Context, tx *sql.Tx, img Image, r *Removal) error {
	for _, t := range img.Tags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE name = ?`, t); err != nil {
			return err
		}
		if !hasEvent(r, t) {
			r.Events = append(r.Events, Event{Untagged: t})
		}
	}
	for _, d := range img.RepoDigests {
		if !hasEvent(r, d) {
			r.Events = append(r.Events, Event{Untagged: d})
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT chain_id FROM image_layers il WHERE image_id = ? AND NOT EXISTS
		(SELECT 1 FROM image_layers o WHERE o.chain_id = il.chain_id AND o.image_id != il.image_id) ORDER BY idx DESC`, img.ID)
	if err != nil {
		return err
	}
	var layers []digest.Digest
	for rows.Next() {
		var c digest.Digest
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		layers = append(layers, c)
	}
	rows.Close()
	// Its children now descend from its parent, the next stored image down their line.
	if _, err := tx.ExecContext(ctx, `UPDATE images SET parent = ? WHERE parent = ?`, img.Parent, img.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM images WHERE id = ?`, img.ID); err != nil {
		return err
	}
	r.Events = append(r.Events, Event{Deleted: img.ID})
	for _, c := range layers {
		r.Events = append(r.Events, Event{Deleted: c})
	}
	return nil
}

// hasChildren reports whether an image made here (commit, build) records id as its parent.
func hasChildren(ctx context.Context, tx *sql.Tx, id digest.Digest) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM images WHERE parent = ?`, id).Scan(&n)
	return n > 0, err
}

func hasEvent(r *Removal, name string) bool {
	for _, e := range r.Events {
		if e.Untagged == name {
			return true
		}
	}
	return false
}

// Prune deletes dangling images, or with all every image that nothing uses,
// then reclaims their blobs. Dangling is docker's: no tag and no image made
// from it; deleting one can leave its untagged parent dangling in turn, so
// the chain goes too.
func (s *Store) Prune(ctx context.Context, all bool) (Removal, error) {
	var r Removal
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM images WHERE NOT EXISTS (SELECT 1 FROM tags WHERE image_id = images.id)
			AND NOT EXISTS (SELECT 1 FROM images c WHERE c.parent = images.id)`
		if all {
			q = `SELECT id FROM images`
		}
		kept := map[digest.Digest]bool{} // in use: not deleted, not asked about again
		for {
			ids, err := queryDigests(ctx, tx, q)
			if err != nil {
				return err
			}
			deleted := 0
			for _, id := range ids {
				if kept[id] {
					continue
				}
				img, err := getImage(ctx, tx, id)
				if err != nil {
					return err
				}
				if err := s.checkUnused(ctx, img, false); errors.Is(err, errdefs.ErrConflict) {
					kept[id] = true
					continue
				} else if err != nil {
					return err
				}
				if err := deleteImage(ctx, tx, img, &r); err != nil {
					return err
				}
				deleted++
			}
			if all || deleted == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return Removal{}, err
	}
	r.Freed, err = s.GC(ctx)
	return r, err
}

func queryDigests(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]digest.Digest, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var d digest.Digest
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// GC deletes every blob that no stored image's manifest references, and the
// layer records that only they carried, and returns the bytes freed. It holds
// the store's lock exclusively, so no other process is between writing blobs
// and recording the image that uses them.
func (s *Store) GC(ctx context.Context) (int64, error) {
	l, err := s.lock(true)
	if err != nil {
		return 0, err
	}
	defer l.Unlock()
	live := map[digest.Digest]bool{}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ds, err := queryDigests(ctx, tx, `SELECT digest FROM manifests UNION SELECT blob FROM manifest_blobs UNION `+buildCacheBlobs)
		if err != nil {
			return err
		}
		for _, d := range ds {
			live[d] = true
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM layer_blobs WHERE blob NOT IN (SELECT blob FROM manifest_blobs UNION `+buildCacheBlobs+`)`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM layer_blobs)
			AND diff_id NOT IN (SELECT diff_id FROM image_layers)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	var dead []content.Info
	if err := s.content.Walk(ctx, func(i content.Info) error {
		if !live[i.Digest] {
			dead = append(dead, i)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	var freed int64
	for _, i := range dead {
		if err := s.content.Delete(ctx, i.Digest); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return freed, fmt.Errorf("gc: %w", err)
		}
		freed += i.Size
	}
	if s.Collected != nil {
		n, err := s.Collected(ctx)
		freed += n
		if err != nil {
			return freed, fmt.Errorf("gc: unpacked layers: %w", err)
		}
	}
	return freed, nil
}

// PruneIngests discards interrupted writes that nobody has touched for
// olderThan (a Writer still holding one keeps it), and leftover temporary
// files, returning the bytes freed.
func (s *Store) PruneIngests(ctx context.Context, olderThan time.Duration) (int64, error) {
	sts, err := s.content.ListStatuses(ctx)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, st := range sts {
		if time.Since(st.UpdatedAt) < olderThan {
			continue
		}
		if err := s.content.Abort(ctx, st.Ref); err == nil {
			freed += st.Offset
		} else if !errors.Is(err, errdefs.ErrUnavailable) && !errors.Is(err, errdefs.ErrNotFound) {
			return freed, err
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
	for _, e := range tmp {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) >= olderThan {
			if os.Remove(filepath.Join(s.root, "tmp", e.Name())) == nil {
				freed += fi.Size()
			}
		}
	}
	return freed, nil
}
