package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// buildCacheSchema is the migration that adds the build cache (issue 7):
// what each step of a Dockerfile build made, by the digest of its inputs
// (package build computes the key). The entry keeps its layer blob from GC
// (see buildCacheBlobs) until `strata builder prune`; the config is kept in
// the row itself, so that a step that only changes the config writes no
// file (and waits for no fsync).
const buildCacheSchema = `CREATE TABLE build_cache (
	key       TEXT PRIMARY KEY,            -- sha256 of the step's inputs
	config    TEXT NOT NULL,               -- the image config after the step (JSON)
	layer     TEXT NOT NULL DEFAULT '',    -- blob: the layer the step made, '' for none
	diff_id   TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL,            -- unix nanoseconds
	last_used INTEGER NOT NULL
);
CREATE INDEX build_cache_layer ON build_cache(layer);`

// buildCacheBlobs selects the blobs the build cache holds; GC keeps them as
// it keeps those of stored images.
const buildCacheBlobs = `SELECT layer FROM build_cache WHERE layer != ''`

// CacheEntry is what one build step made.
type CacheEntry struct {
	Key      digest.Digest
	Config   []byte // the image config after the step
	Layer    *Layer // the layer it added; nil for a step that only changed the config
	Created  time.Time
	LastUsed time.Time
}

// PutCache records a build step's result. Its layer blob must be stored
// already, written while holding Writing; from now on GC keeps it.
func (s *Store) PutCache(ctx context.Context, e CacheEntry) error {
	now := time.Now().UnixNano()
	return s.tx(ctx, func(tx *sql.Tx) error {
		layer, diffID := "", ""
		if l := e.Layer; l != nil {
			layer, diffID = l.Blob.Digest.String(), l.DiffID.String()
			if _, err := tx.ExecContext(ctx, `INSERT INTO layers (diff_id, tar_size, unpacked_size) VALUES (?, ?, ?)
				ON CONFLICT (diff_id) DO NOTHING`, l.DiffID, l.TarSize, l.Size); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO layer_blobs (blob, diff_id, media_type, size) VALUES (?, ?, ?, ?)
				ON CONFLICT (blob) DO NOTHING`, l.Blob.Digest, l.DiffID, l.Blob.MediaType, l.Blob.Size); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO build_cache (key, config, layer, diff_id, created, last_used)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET config = excluded.config, layer = excluded.layer,
			diff_id = excluded.diff_id, last_used = excluded.last_used`, e.Key, string(e.Config), layer, diffID, now, now)
		return err
	})
}

// Cache finds the result of the step with inputs key, marking it used;
// errdefs.ErrNotFound when there is none, or when its layer is gone.
func (s *Store) Cache(ctx context.Context, key digest.Digest) (CacheEntry, error) {
	var e CacheEntry
	var layer, diffID, config string
	var created, used int64
	err := s.db.QueryRowContext(ctx, `SELECT key, config, layer, diff_id, created, last_used FROM build_cache WHERE key = ?`, key).
		Scan(&e.Key, &config, &layer, &diffID, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return CacheEntry{}, fmt.Errorf("build cache %s: %w", key, errdefs.ErrNotFound)
	}
	if err != nil {
		return CacheEntry{}, err
	}
	e.Config, e.Created, e.LastUsed = []byte(config), unixTime(created), unixTime(used)
	if layer != "" {
		lb, err := s.LayerByDiffID(ctx, digest.Digest(diffID))
		if err != nil {
			return CacheEntry{}, fmt.Errorf("build cache %s: %w", key, err)
		}
		if _, err := s.content.Info(ctx, lb.Blob.Digest); err != nil {
			return CacheEntry{}, fmt.Errorf("build cache %s: layer: %w", key, err)
		}
		e.Layer = &Layer{Blob: lb.Blob, DiffID: lb.DiffID, TarSize: lb.TarSize, Size: lb.Size}
	}
	// Marking it used is for `builder prune --filter until=`; a busy database
	// must not fail a build that found what it needed.
	s.db.ExecContext(ctx, `UPDATE build_cache SET last_used = ? WHERE key = ?`, time.Now().UnixNano(), key)
	return e, nil
}

// CachePruned is what PruneCache removed.
type CachePruned struct {
	Keys  []digest.Digest
	Freed int64 // bytes of blobs (and unpacked layers) no image needed any more
}

// PruneCache removes the build cache entries last used before olderThan
// (all of them for the zero time), then collects the blobs nothing keeps.
func (s *Store) PruneCache(ctx context.Context, olderThan time.Time) (CachePruned, error) {
	var p CachePruned
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q, args := `SELECT key FROM build_cache ORDER BY created`, []any{}
		if !olderThan.IsZero() {
			q, args = `SELECT key FROM build_cache WHERE last_used < ? ORDER BY created`, []any{olderThan.UnixNano()}
		}
		keys, err := queryDigests(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM build_cache WHERE key = ?`, k); err != nil {
				return err
			}
		}
		p.Keys = keys
		return nil
	})
	if err != nil {
		return CachePruned{}, err
	}
	p.Freed, err = s.GC(ctx)
	return p, err
}
