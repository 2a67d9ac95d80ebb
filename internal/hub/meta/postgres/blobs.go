package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

const blobColumns = `digest, size, state, created_at, holder, lease_until`

func scanBlob(row interface{ Scan(...any) error }) (meta.Blob, error) {
	var b meta.Blob
	var d string
	var created, until int64
	err := row.Scan(&d, &b.Size, &b.State, &created, &b.Lease.Holder, &until)
	b.Digest, b.CreatedAt, b.Lease.Until = digest.Digest(d), fromNano(created), zeroTime(until)
	return b, err
}

// Blob returns the hub-wide record of a blob.
func (s *Store) Blob(ctx context.Context, d digest.Digest) (meta.Blob, error) {
	return blobRecord(ctx, s.db, d)
}

func blobRecord(ctx context.Context, q querier, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(q.QueryRow(ctx, `SELECT `+blobColumns+` FROM blobs WHERE digest = $1`, d.String()))
	if noRows(err) {
		return meta.Blob{Digest: d, State: meta.BlobAbsent}, notFound("blob %s", d)
	}
	return b, err
}

// Blobs lists live and quarantined blobs after a digest.
func (s *Store) Blobs(ctx context.Context, after digest.Digest, n int) ([]meta.Blob, error) {
	return scanBlobs(ctx, s.db, `SELECT `+blobColumns+` FROM blobs WHERE state IN ($1, $2) AND digest > $3
		ORDER BY digest LIMIT $4`, meta.BlobLive, meta.BlobQuarantined, after.String(), n)
}

// LinkBlob links a live blob into repo.
func (s *Store) LinkBlob(ctx context.Context, repo string, d digest.Digest, now time.Time, quota int64) (meta.BlobState, error) {
	var state meta.BlobState
	err := s.txIn(ctx, usageScope(repo), func(tx *txn) error {
		b, u, err := blobForLink(ctx, tx, repo, d)
		state = b.State
		if err != nil || b.State != meta.BlobLive {
			return err
		}
		if err := u.check(b.Size, quota); err != nil {
			return err
		}
		return link(ctx, tx, repo, d, now)
	})
	return state, err
}

// usage is what a namespace stores, as a link into it sees it.
type usage struct {
	ns     string
	linked bool // the namespace links the blob already
	used   int64
}

// check returns a *meta.QuotaError when linking a blob of size bytes would
// take the namespace past quota (> 0). A blob it links already adds nothing.
func (u usage) check(size, quota int64) error {
	if quota > 0 && !u.linked && u.used+size > quota {
		return &meta.QuotaError{Namespace: u.ns, Used: u.used, Adding: size, Quota: quota}
	}
	return nil
}

// blobForLink reads blob d's record (State BlobAbsent when none) and the
// usage of repo's namespace, in one statement.
func blobForLink(ctx context.Context, tx *txn, repo string, d digest.Digest) (meta.Blob, usage, error) {
	u := usage{ns: meta.Namespace(repo)}
	var size, created, until *int64
	var state *int
	var bholder *string
	err := tx.QueryRow(ctx, `SELECT b.size, b.state, b.created_at, b.holder, b.lease_until, `+usageColumns+`
		FROM (SELECT 1) AS one LEFT JOIN blobs b ON b.digest = $1`, d.String(), u.ns).
		Scan(&size, &state, &created, &bholder, &until, &u.linked, &u.used)
	b := meta.Blob{Digest: d, State: meta.BlobAbsent}
	if err != nil || state == nil {
		return b, u, err
	}
	b.Size, b.State, b.CreatedAt = *size, meta.BlobState(*state), fromNano(*created)
	b.Lease = meta.Lease{Holder: *bholder, Until: zeroTime(*until)}
	return b, u, nil
}

// usageColumns are what a link of blob $1 into namespace $2 counts
// against: whether the namespace links it already, and what it stores.
const usageColumns = `EXISTS (SELECT 1 FROM namespace_blobs WHERE namespace = $2 AND digest = $1),
	COALESCE((SELECT used FROM namespace_usage WHERE namespace = $2), 0)`

// link links blob d into repo, creating repo if needed. The counts of
// what the namespace stores follow (the triggers of schema version 5).
func link(ctx context.Context, tx *txn, repo string, d digest.Digest, now time.Time) error {
	args := append(ensureRepoArgs(repo, now), d.String())
	_, err := tx.Exec(ctx, `WITH `+repoCTEs("")+`
		INSERT INTO links (repo_id, digest, touched_at) SELECT id, $6, $3 FROM r
		ON CONFLICT (repo_id, digest) DO UPDATE SET touched_at = excluded.touched_at`, args...)
	return err
}

// usageScope makes the changes that link blobs into a namespace take turns
// (see txIn): they all read and count its usage.
func usageScope(repo string) string {
	return "usage:" + meta.Namespace(repo)
}

// NamespaceUsage is the bytes of the distinct blobs a namespace links.
func (s *Store) NamespaceUsage(ctx context.Context, ns string) (int64, error) {
	var used int64
	err := s.db.QueryRow(ctx, `SELECT used FROM namespace_usage WHERE namespace = $1`, ns).Scan(&used)
	if noRows(err) {
		return 0, nil
	}
	return used, err
}

// LinkOrReserve links a live blob, or reserves one to write as pending under l.
func (s *Store) LinkOrReserve(ctx context.Context, repo string, d digest.Digest, size int64, now time.Time, l meta.Lease, quota int64) (meta.BlobState, error) {
	if reserved, err := s.reserve(ctx, repo, d, size, now, l, quota); err != nil || reserved {
		return meta.BlobAbsent, err
	}
	var state meta.BlobState
	err := s.txIn(ctx, usageScope(repo), func(tx *txn) error {
		b, u, err := blobForLink(ctx, tx, repo, d)
		state = b.State
		switch {
		case err != nil:
			return err
		case b.State == meta.BlobLive:
			if err := u.check(b.Size, quota); err != nil {
				return err
			}
			return link(ctx, tx, repo, d, now)
		case b.State == meta.BlobDeleting && b.Lease.Held(now):
			return nil
		}
		if err := u.check(size, quota); err != nil {
			return err
		}
		state = meta.BlobAbsent
		_, err = tx.Exec(ctx, `INSERT INTO blobs (digest, size, state, created_at, holder, lease_until)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO UPDATE SET size = excluded.size, state = excluded.state,
			created_at = excluded.created_at, holder = excluded.holder, lease_until = excluded.lease_until`,
			d.String(), size, meta.BlobPending, unixNano(now), l.Holder, zeroNano(l.Until))
		return err
	})
	return state, err
}

// reserve is LinkOrReserve's reservation of a blob that is not live, in
// one statement and out of the namespace's turn: a push's blobs are new
// far more often than not. It is one row's change under conditions on that
// row (see Store.row); the quota it checks is only a first look (the
// publish, in turn, decides). False when it reserved nothing: the blob is
// live, or deleting under a lease, or the quota seems to refuse it, for
// LinkOrReserve to find out in turn.
func (s *Store) reserve(ctx context.Context, repo string, d digest.Digest, size int64, now time.Time, l meta.Lease, quota int64) (bool, error) {
	var reserved bool
	err := s.row(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `WITH u AS (SELECT EXISTS (SELECT 1 FROM namespace_blobs WHERE namespace = $7 AND digest = $1) AS linked,
				COALESCE((SELECT used FROM namespace_usage WHERE namespace = $7), 0) AS used)
			INSERT INTO blobs AS b (digest, size, state, created_at, holder, lease_until)
			SELECT $1::text, $2::bigint, $3::smallint, $4::bigint, $5::text, $6::bigint FROM u
			WHERE $8::bigint <= 0 OR u.linked OR u.used + $2 <= $8
			ON CONFLICT (digest) DO UPDATE SET size = excluded.size, state = excluded.state,
				created_at = excluded.created_at, holder = excluded.holder, lease_until = excluded.lease_until
			WHERE b.state <> $9 AND NOT (b.state = $10 AND b.holder <> '' AND b.lease_until > $4)`,
			d.String(), size, meta.BlobPending, unixNano(now), l.Holder, zeroNano(l.Until), meta.Namespace(repo), quota,
			meta.BlobLive, meta.BlobDeleting)
		reserved = err == nil && res.RowsAffected() == 1
		return err
	})
	return reserved, err
}

// RenewBlob extends the lease on a pending or deleting blob.
func (s *Store) RenewBlob(ctx context.Context, d digest.Digest, l meta.Lease) error {
	return s.single(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `UPDATE blobs SET lease_until = $1 WHERE digest = $2 AND holder = $3 AND state IN ($4, $5)`,
			zeroNano(l.Until), d.String(), l.Holder, meta.BlobPending, meta.BlobDeleting)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n != 1 {
			return fmt.Errorf("blob %s: the lease of %s is lost: %w", d, l.Holder, errdefs.ErrConflict)
		}
		return nil
	})
}

// PublishBlob makes a pending blob live and links it into repo: one
// statement, sent with the namespace's lock, its BEGIN, its COMMIT and the
// unlock in one round trip, so that the turn lasts no longer than the
// database takes to run it. It decides for itself (the blob's state and
// the quota) and changes nothing when it refuses; its answer says why.
func (s *Store) PublishBlob(ctx context.Context, repo string, d digest.Digest, holder, upload string, now time.Time, quota int64) error {
	var size *int64
	var state *int
	var bholder *string
	u := usage{ns: meta.Namespace(repo)}
	var ok bool
	args := append(ensureRepoArgs(repo, now), d.String(), holder, upload, meta.BlobLive, meta.BlobPending, quota)
	err := s.run(ctx, usageScope(repo), beginSQL, func(tx *txn) error {
		return tx.QueryRow(ctx, `WITH b AS (SELECT size, state, holder FROM blobs WHERE digest = $6),
			u AS (SELECT EXISTS (SELECT 1 FROM namespace_blobs WHERE namespace = $5 AND digest = $6) AS linked,
				COALESCE((SELECT used FROM namespace_usage WHERE namespace = $5), 0) AS used),
			ok AS (SELECT 1 FROM b, u WHERE (b.state = $9 OR (b.state = $10 AND b.holder = $7))
				AND ($11::bigint <= 0 OR u.linked OR u.used + b.size <= $11)),
			gone AS (DELETE FROM uploads WHERE $8 <> '' AND id = $8 AND holder = $7 AND EXISTS (SELECT 1 FROM ok)),
			published AS (UPDATE blobs SET state = $9, created_at = $3, holder = '', lease_until = 0
				WHERE digest = $6 AND state = $10 AND holder = $7 AND EXISTS (SELECT 1 FROM ok)),
			`+repoCTEs(" AND EXISTS (SELECT 1 FROM ok)")+`,
			linked AS (INSERT INTO links (repo_id, digest, touched_at) SELECT id, $6, $3 FROM r WHERE EXISTS (SELECT 1 FROM ok)
				ON CONFLICT (repo_id, digest) DO UPDATE SET touched_at = excluded.touched_at)
			SELECT b.size, b.state, b.holder, u.linked, u.used, EXISTS (SELECT 1 FROM ok) FROM u LEFT JOIN b ON true`,
			args...).Scan(&size, &state, &bholder, &u.linked, &u.used, &ok)
	})
	switch {
	case err != nil || ok:
		return err
	case state == nil:
		return fmt.Errorf("publish blob %s: it is %s, not pending under %s: %w", d, meta.BlobAbsent, holder, errdefs.ErrConflict)
	case meta.BlobState(*state) != meta.BlobLive && (meta.BlobState(*state) != meta.BlobPending || *bholder != holder):
		return fmt.Errorf("publish blob %s: it is %s, not pending under %s: %w", d, meta.BlobState(*state), holder, errdefs.ErrConflict)
	}
	if err := u.check(*size, quota); err != nil {
		return err
	}
	return fmt.Errorf("publish blob %s: refused, neither for its state nor for the quota: %w", d, errdefs.ErrConflict)
}

// ReleaseBlob drops a pending record that holder holds.
func (s *Store) ReleaseBlob(ctx context.Context, d digest.Digest, holder string) error {
	return s.single(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `DELETE FROM blobs WHERE digest = $1 AND state = $2 AND holder = $3`,
			d.String(), meta.BlobPending, holder)
		return err
	})
}

// QuarantineBlob marks a live blob quarantined.
func (s *Store) QuarantineBlob(ctx context.Context, d digest.Digest, now time.Time) error {
	return s.single(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `UPDATE blobs SET state = $1, created_at = $2 WHERE digest = $3 AND state = $4`,
			meta.BlobQuarantined, unixNano(now), d.String(), meta.BlobLive)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n != 1 {
			return notFound("live blob %s", d)
		}
		return nil
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
	return l, err
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
	return name, err
}

// TouchLink records that a client has just relied on a link.
func (s *Store) TouchLink(ctx context.Context, repo string, d digest.Digest, now time.Time) error {
	return s.single(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `UPDATE links SET touched_at = $1
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $2) AND digest = $3`, unixNano(now), repo, d.String())
		return err
	})
}

// UnlinkBlob removes a link that no manifest of repo refers to.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx *txn) error {
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
		res, err := tx.Exec(ctx, `DELETE FROM links WHERE repo_id = $1 AND digest = $2`, id, d.String())
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return notFound("blob %s in %s", d, repo)
		}
		return nil
	})
}
