package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Blob returns the hub-wide record of a blob.
func (s *Store) Blob(ctx context.Context, d digest.Digest) (meta.Blob, error) {
	b, err := blobRecord(ctx, s.db, d)
	return b, classify(err)
}

func blobRecord(ctx context.Context, q querier, d digest.Digest) (meta.Blob, error) {
	b := meta.Blob{Digest: d}
	var created int64
	err := q.QueryRow(ctx, `SELECT size, state, created_at FROM blobs WHERE digest = $1`, d.String()).
		Scan(&b.Size, &b.State, &created)
	if noRows(err) {
		return meta.Blob{Digest: d, State: meta.BlobAbsent}, notFound("blob %s", d)
	}
	b.CreatedAt = fromNano(created)
	return b, err
}

// LinkBlob links a live blob into repo.
func (s *Store) LinkBlob(ctx context.Context, repo string, d digest.Digest, now time.Time) (meta.BlobState, error) {
	var state meta.BlobState
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b, err := blobRecord(ctx, tx, d)
		state = b.State
		if errdefs.IsNotFound(err) || b.State != meta.BlobLive {
			return nil
		}
		if err != nil {
			return err
		}
		return link(ctx, tx, repo, d, now)
	})
	return state, err
}

func link(ctx context.Context, tx pgx.Tx, repo string, d digest.Digest, now time.Time) error {
	id, err := ensureRepo(ctx, tx, repo, now)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO links (repo_id, digest, touched_at) VALUES ($1, $2, $3)
		ON CONFLICT (repo_id, digest) DO UPDATE SET touched_at = excluded.touched_at`, id, d.String(), unixNano(now))
	return err
}

// LinkOrReserve links a live blob, or reserves an absent one as pending.
func (s *Store) LinkOrReserve(ctx context.Context, repo string, d digest.Digest, size int64, now time.Time) (meta.BlobState, error) {
	var state meta.BlobState
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b, err := blobRecord(ctx, tx, d)
		state = b.State
		switch {
		case errdefs.IsNotFound(err):
			_, err = tx.Exec(ctx, `INSERT INTO blobs (digest, size, state, created_at) VALUES ($1, $2, $3, $4)`,
				d.String(), size, meta.BlobPending, unixNano(now))
			return err
		case err != nil:
			return err
		case b.State == meta.BlobLive:
			return link(ctx, tx, repo, d, now)
		}
		return nil
	})
	return state, err
}

// PublishBlob makes a pending blob live and links it into repo.
func (s *Store) PublishBlob(ctx context.Context, repo string, d digest.Digest, now time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE blobs SET state = $1 WHERE digest = $2 AND state = $3`,
			meta.BlobLive, d.String(), meta.BlobPending)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("publish blob %s: it is not pending: %w", d, errdefs.ErrConflict)
		}
		return link(ctx, tx, repo, d, now)
	})
}

// RepoBlob returns a live blob linked into repo.
func (s *Store) RepoBlob(ctx context.Context, repo string, d digest.Digest) (meta.Link, error) {
	l := meta.Link{Digest: d}
	var touched int64
	err := s.db.QueryRow(ctx, `SELECT b.size, l.touched_at FROM repositories r
		JOIN links l ON l.repo_id = r.id JOIN blobs b ON b.digest = l.digest
		WHERE r.name = $1 AND l.digest = $2 AND b.state = $3`, repo, d.String(), meta.BlobLive).Scan(&l.Size, &touched)
	if noRows(err) {
		return l, notFound("blob %s in %s", d, repo)
	}
	l.TouchedAt = fromNano(touched)
	return l, classify(err)
}

// PublicHolder names a public repository linking live blob d.
func (s *Store) PublicHolder(ctx context.Context, d digest.Digest) (string, error) {
	var name string
	err := s.db.QueryRow(ctx, `SELECT r.name FROM links l JOIN repositories r ON r.id = l.repo_id
		JOIN blobs b ON b.digest = l.digest WHERE l.digest = $1 AND b.state = $2 AND r.visibility = $3
		ORDER BY r.name LIMIT 1`, d.String(), meta.BlobLive, string(meta.Public)).Scan(&name)
	if noRows(err) {
		return "", nil
	}
	return name, classify(err)
}

// TouchLink records that a client has just relied on a link.
func (s *Store) TouchLink(ctx context.Context, repo string, d digest.Digest, now time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE links SET touched_at = $1
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $2) AND digest = $3`, unixNano(now), repo, d.String())
		return err
	})
}

// UnlinkBlob removes a link that no manifest of repo refers to.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		var m string
		err = tx.QueryRow(ctx, `SELECT manifest FROM manifest_blobs WHERE repo_id = $1 AND blob = $2 LIMIT 1`,
			id, d.String()).Scan(&m)
		if err == nil {
			return fmt.Errorf("blob %s is used by manifest %s in %s; delete the manifest first: %w", d, m, repo, errdefs.ErrConflict)
		}
		if !noRows(err) {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM links WHERE repo_id = $1 AND digest = $2`, id, d.String())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("blob %s in %s", d, repo)
		}
		return nil
	})
}
