package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// garbageLinks: links no manifest of their repository refers to, last
// touched before the cutoff ($1).
const garbageLinks = `SELECT r.name, l.digest, b.size FROM links l
	JOIN repositories r ON r.id = l.repo_id JOIN blobs b ON b.digest = l.digest
	WHERE l.touched_at < $1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.repo_id = l.repo_id AND mb.blob = l.digest)
	ORDER BY l.digest, r.name`

// garbageBlobs: live blobs created before the cutoff ($1) that no manifest
// refers to and whose every link, if any, is garbage.
const garbageBlobs = `SELECT b.digest, b.size, b.state, b.created_at FROM blobs b
	WHERE b.state = 2 AND b.created_at < $1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob = b.digest)
	AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest = b.digest AND l.touched_at >= $1)
	ORDER BY b.digest`

// FindGarbage reports what CollectGarbage would do, changing nothing.
func (s *Store) FindGarbage(ctx context.Context, cutoff time.Time) (meta.Garbage, error) {
	g, err := findGarbage(ctx, s.db, cutoff)
	return g, classify(err)
}

func findGarbage(ctx context.Context, q querier, cutoff time.Time) (meta.Garbage, error) {
	var g meta.Garbage
	rows, err := q.Query(ctx, garbageLinks, unixNano(cutoff))
	if err != nil {
		return g, err
	}
	g.Links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.LinkRef, error) {
		var l meta.LinkRef
		var d string
		err := row.Scan(&l.Repository, &d, &l.Size)
		l.Digest = digest.Digest(d)
		return l, err
	})
	if err != nil {
		return g, err
	}
	g.Blobs, err = scanBlobs(ctx, q, garbageBlobs, unixNano(cutoff))
	return g, err
}

func scanBlobs(ctx context.Context, q querier, query string, args ...any) ([]meta.Blob, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Blob, error) {
		var b meta.Blob
		var d string
		var created int64
		err := row.Scan(&d, &b.Size, &b.State, &created)
		b.Digest, b.CreatedAt = digest.Digest(d), fromNano(created)
		return b, err
	})
}

// CollectGarbage removes garbage links and marks garbage blobs deleting, in
// one transaction, so that no link can appear in between. A blob's
// created_at becomes the time it was marked, so that a collector that dies
// leaves rows another can take over once they are stale.
func (s *Store) CollectGarbage(ctx context.Context, now, cutoff, staleBefore time.Time) (meta.Garbage, error) {
	var g meta.Garbage
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if g, err = findGarbage(ctx, tx, cutoff); err != nil {
			return err
		}
		stale, err := scanBlobs(ctx, tx, `SELECT digest, size, state, created_at FROM blobs
			WHERE state IN (1, 3) AND created_at < $1 ORDER BY digest`, unixNano(staleBefore))
		if err != nil {
			return err
		}
		g.Blobs = append(g.Blobs, stale...)
		for _, l := range g.Links {
			if _, err := tx.Exec(ctx, `DELETE FROM links WHERE digest = $1
				AND repo_id = (SELECT id FROM repositories WHERE name = $2)`, l.Digest.String(), l.Repository); err != nil {
				return err
			}
		}
		for _, b := range g.Blobs {
			if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 3, created_at = $1 WHERE digest = $2`,
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, state, created_at) VALUES ($1, $2, 3, $3)
			ON CONFLICT (digest) DO NOTHING`, d.String(), size, unixNano(now))
		claimed = tag.RowsAffected() == 1
		return err
	})
	return claimed, err
}

// ForgetBlob removes the record of a blob marked deleting.
func (s *Store) ForgetBlob(ctx context.Context, d digest.Digest) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM blobs WHERE digest = $1 AND state = 3`, d.String())
		return err
	})
}
