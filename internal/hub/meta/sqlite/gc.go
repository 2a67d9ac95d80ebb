package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// garbageLinks: links no manifest of their repository refers to, last
// touched before the cutoff (?1).
const garbageLinks = `SELECT r.name, l.digest, b.size FROM links l
	JOIN repositories r ON r.id = l.repo_id JOIN blobs b ON b.digest = l.digest
	WHERE l.touched_at < ?1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.repo_id = l.repo_id AND mb.blob = l.digest)
	ORDER BY l.digest, r.name`

// garbageBlobs: live blobs created before the cutoff (?1) that no manifest
// refers to and whose every link, if any, is garbage.
const garbageBlobs = `SELECT b.digest, b.size, b.state, b.created_at FROM blobs b
	WHERE b.state = 2 AND b.created_at < ?1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob = b.digest)
	AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest = b.digest AND l.touched_at >= ?1)
	ORDER BY b.digest`

// FindGarbage reports what CollectGarbage would do, changing nothing.
func (s *Store) FindGarbage(ctx context.Context, cutoff time.Time) (meta.Garbage, error) {
	return findGarbage(ctx, s.r, cutoff)
}

func findGarbage(ctx context.Context, q querier, cutoff time.Time) (meta.Garbage, error) {
	var g meta.Garbage
	rows, err := q.QueryContext(ctx, garbageLinks, unixNano(cutoff))
	if err != nil {
		return g, err
	}
	for rows.Next() {
		var l meta.LinkRef
		var d string
		if err := rows.Scan(&l.Repository, &d, &l.Size); err != nil {
			rows.Close()
			return g, err
		}
		l.Digest = digest.Digest(d)
		g.Links = append(g.Links, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return g, err
	}
	g.Blobs, err = scanBlobs(ctx, q, garbageBlobs, unixNano(cutoff))
	return g, err
}

func scanBlobs(ctx context.Context, q querier, query string, args ...any) ([]meta.Blob, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.Blob
	for rows.Next() {
		var b meta.Blob
		var d string
		var created int64
		if err := rows.Scan(&d, &b.Size, &b.State, &created); err != nil {
			return nil, err
		}
		b.Digest, b.CreatedAt = digest.Digest(d), fromNano(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

// CollectGarbage removes garbage links and marks garbage blobs deleting, in
// one transaction, so that no link can appear in between. A blob's
// created_at becomes the time it was marked, so that a collector that dies
// leaves rows another can take over once they are stale.
func (s *Store) CollectGarbage(ctx context.Context, now, cutoff, staleBefore time.Time) (meta.Garbage, error) {
	var g meta.Garbage
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if g, err = findGarbage(ctx, tx, cutoff); err != nil {
			return err
		}
		stale, err := scanBlobs(ctx, tx, `SELECT digest, size, state, created_at FROM blobs
			WHERE state IN (1, 3) AND created_at < ? ORDER BY digest`, unixNano(staleBefore))
		if err != nil {
			return err
		}
		g.Blobs = append(g.Blobs, stale...)
		for _, l := range g.Links {
			if _, err := tx.ExecContext(ctx, `DELETE FROM links WHERE digest = ?
				AND repo_id = (SELECT id FROM repositories WHERE name = ?)`, l.Digest.String(), l.Repository); err != nil {
				return err
			}
		}
		for _, b := range g.Blobs {
			if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 3, created_at = ? WHERE digest = ?`,
				unixNano(now), b.Digest.String()); err != nil {
				return err
			}
		}
		return nil
	})
	return g, err
}

// ClaimOrphan records unrecorded content as deleting.
func (s *Store) ClaimOrphan(ctx context.Context, d digest.Digest, size int64, now time.Time) (bool, error) {
	var claimed bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, state, created_at) VALUES (?, ?, 3, ?)
			ON CONFLICT (digest) DO NOTHING`, d.String(), size, unixNano(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}

// ForgetBlob removes the record of a blob marked deleting.
func (s *Store) ForgetBlob(ctx context.Context, d digest.Digest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE digest = ? AND state = 3`, d.String())
		return err
	})
}
