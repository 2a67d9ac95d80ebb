package store

import (
	"context"
	"database/sql"

	"github.com/opencontainers/go-digest"
)

// Blob sources record where blobs were seen on registries: pulled from, or
// pushed to, a repository. A push mounts a blob from a repository of the same
// registry that has it, rather than uploading it again.
//
// Schema (migration 4):
//
//	blob_sources(blob, registry, repository)  one row per place a blob is known to be
const blobSourcesSchema = `CREATE TABLE IF NOT EXISTS blob_sources (
	blob       TEXT NOT NULL,
	registry   TEXT NOT NULL,  -- docker.io, localhost:5000
	repository TEXT NOT NULL,  -- library/busybox
	PRIMARY KEY (blob, registry, repository)
)`

// AddBlobSources records that the registry's repository holds each of blobs.
func (s *Store) AddBlobSources(ctx context.Context, registry, repository string, blobs []digest.Digest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, b := range blobs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO blob_sources (blob, registry, repository) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, b, registry, repository); err != nil {
				return err
			}
		}
		return nil
	})
}

// BlobSources lists the repositories of registry known to hold blob.
func (s *Store) BlobSources(ctx context.Context, registry string, blob digest.Digest) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repository FROM blob_sources WHERE blob = ? AND registry = ?
		ORDER BY repository`, blob, registry)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
