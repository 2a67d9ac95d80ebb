package postgres

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// garbageLinks: links no manifest of their repository refers to, last
// touched before the cutoff (?1).
const garbageLinks = `SELECT r.name, l.digest, b.size FROM links l
	JOIN repositories r ON r.id = l.repo_id JOIN blobs b ON b.digest = l.digest
	WHERE l.touched_at < $1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.repo_id = l.repo_id AND mb.blob = l.digest)
	ORDER BY l.digest, r.name`

// garbageBlobs: live or quarantined blobs created before the cutoff (?1)
// that no manifest refers to and whose every link, if any, is garbage.
const garbageBlobs = `SELECT ` + blobColumns + ` FROM blobs b
	WHERE b.state IN (2, 4) AND b.created_at < $1
	AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob = b.digest)
	AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest = b.digest AND l.touched_at >= $1)
	ORDER BY b.digest`

// FindGarbage reports what CollectGarbage would do, changing nothing.
func (s *Store) FindGarbage(ctx context.Context, cutoff time.Time) (meta.Garbage, error) {
	return findGarbage(ctx, s.db, cutoff)
}

func findGarbage(ctx context.Context, q querier, cutoff time.Time) (meta.Garbage, error) {
	var g meta.Garbage
	rows, err := q.Query(ctx, garbageLinks, unixNano(cutoff))
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
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Blob{}
	for rows.Next() {
		b, err := scanBlob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// CollectGarbage removes garbage links and marks garbage blobs deleting
// under l, in one transaction, so that no link can appear in between; it
// takes over pending and deleting blobs whose lease lapsed.
func (s *Store) CollectGarbage(ctx context.Context, now, cutoff time.Time, l meta.Lease) (meta.Garbage, error) {
	var g meta.Garbage
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		if g, err = findGarbage(ctx, tx, cutoff); err != nil {
			return err
		}
		stale, err := scanBlobs(ctx, tx, `SELECT `+blobColumns+` FROM blobs
			WHERE state IN (1, 3) AND lease_until <= $1 ORDER BY digest`, unixNano(now))
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
			if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 3, created_at = $1, holder = $2, lease_until = $3
				WHERE digest = $4`, unixNano(now), l.Holder, zeroNano(l.Until), b.Digest.String()); err != nil {
				return err
			}
		}
		return nil
	})
	return g, err
}

// ClaimOrphan records unrecorded content as deleting under l.
func (s *Store) ClaimOrphan(ctx context.Context, d digest.Digest, size int64, now time.Time, l meta.Lease) (bool, error) {
	var claimed bool
	err := s.single(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, state, created_at, holder, lease_until)
			VALUES ($1, $2, 3, $3, $4, $5) ON CONFLICT (digest) DO NOTHING`, d.String(), size, unixNano(now), l.Holder, zeroNano(l.Until))
		if err != nil {
			return err
		}
		n := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}

// ForgetBlob removes the record of a blob holder holds as deleting.
func (s *Store) ForgetBlob(ctx context.Context, d digest.Digest, holder string) error {
	return s.single(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `DELETE FROM blobs WHERE digest = $1 AND state = 3 AND holder = $2`, d.String(), holder)
		return err
	})
}
