package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

const uploadColumns = `id, repo, owner, received, started_at, updated_at, holder, lease_until, state`

func scanUpload(row interface{ Scan(...any) error }) (meta.Upload, error) {
	var u meta.Upload
	var started, updated, until int64
	err := row.Scan(&u.ID, &u.Repo, &u.Owner, &u.Offset, &started, &updated, &u.Lease.Holder, &until, &u.State)
	u.StartedAt, u.UpdatedAt, u.Lease.Until = fromNano(started), fromNano(updated), zeroTime(until)
	return u, err
}

func uploadRecord(ctx context.Context, q querier, repo, id string) (meta.Upload, error) {
	u, err := scanUpload(q.QueryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if noRows(err) || (err == nil && repo != "" && u.Repo != repo) {
		return meta.Upload{}, notFound("upload %s", id)
	}
	return u, err
}

// CreateUpload records an upload, within its owner's limit. With a limit,
// an owner's uploads start in turns (the lock, BEGIN, the statement,
// COMMIT and the unlock in one round trip), READ COMMITTED: each counts
// what the ones before it committed, exactly, and as serializable
// transactions they would fail each other (and the publishes that forget
// uploads) on the owner's rows they all read.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload, limit int, activeSince time.Time) error {
	scope := ""
	if limit > 0 {
		scope = "uploads:" + u.Owner
	}
	return s.run(ctx, scope, beginRowSQL, func(tx *txn) error {
		res, err := tx.Exec(ctx, `INSERT INTO uploads (`+uploadColumns+`)
			SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::bigint, $7::text, $8::bigint, $9::bytea
			WHERE $10::bigint <= 0 OR (SELECT count(*) FROM uploads WHERE owner = $3 AND updated_at >= $11) < $10`,
			u.ID, u.Repo, u.Owner, u.Offset, unixNano(u.StartedAt), unixNano(u.UpdatedAt), u.Lease.Holder,
			zeroNano(u.Lease.Until), u.State, limit, unixNano(activeSince))
		if err == nil && res.RowsAffected() == 0 {
			return &meta.LimitError{What: "uploads", Owner: u.Owner, Limit: limit}
		}
		return err
	})
}

// Upload returns an upload of repo.
func (s *Store) Upload(ctx context.Context, repo, id string) (meta.Upload, error) {
	return uploadRecord(ctx, s.db, repo, id)
}

// LeaseUpload makes l.Holder the upload's one writer.
func (s *Store) LeaseUpload(ctx context.Context, repo, id string, now time.Time, l meta.Lease) (meta.Upload, error) {
	var u meta.Upload
	err := s.row(ctx, func(tx *txn) error {
		var err error
		u, err = scanUpload(tx.QueryRow(ctx, `UPDATE uploads SET holder = $1, lease_until = $2
			WHERE id = $3 AND ($4 = '' OR repo = $4) AND (holder = '' OR holder = $1 OR lease_until <= $5)
			RETURNING `+uploadColumns, l.Holder, zeroNano(l.Until), id, repo, unixNano(now)))
		return err
	})
	if noRows(err) {
		if _, err := uploadRecord(ctx, s.db, repo, id); err != nil {
			return u, classify(err)
		}
		return u, fmt.Errorf("upload %s: another request is writing to it: %w", id, errdefs.ErrConflict)
	}
	return u, err
}

// UpdateUpload records an upload's offset and state and ends its writer's
// lease, fenced by that lease.
func (s *Store) UpdateUpload(ctx context.Context, id, holder string, offset int64, state []byte, now time.Time) error {
	return s.row(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `UPDATE uploads SET received = $1, state = $2, updated_at = $3, holder = '', lease_until = 0
			WHERE id = $4 AND holder = $5 AND holder != ''`, offset, state, unixNano(now), id, holder)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n != 1 {
			return fmt.Errorf("upload %s: %s is not its writer any more: %w", id, holder, errdefs.ErrConflict)
		}
		return nil
	})
}

// ReleaseUpload ends holder's lease on an upload.
func (s *Store) ReleaseUpload(ctx context.Context, id, holder string) error {
	return s.row(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `UPDATE uploads SET holder = '', lease_until = 0 WHERE id = $1 AND holder = $2`, id, holder)
		return err
	})
}

// DeleteUpload forgets an upload its writer is done with.
func (s *Store) DeleteUpload(ctx context.Context, id, holder string) error {
	err := s.row(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `DELETE FROM uploads WHERE id = $1 AND holder = $2 AND holder != ''`, id, holder)
		if err == nil && res.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return err
	})
	if noRows(err) {
		if _, err := uploadRecord(ctx, s.db, "", id); err != nil {
			return classify(err)
		}
		return fmt.Errorf("upload %s: %s is not its writer: %w", id, holder, errdefs.ErrConflict)
	}
	return err
}

// ReapUploads forgets idle uploads nobody writes to, and returns them.
func (s *Store) ReapUploads(ctx context.Context, before, now time.Time) ([]meta.Upload, error) {
	out := []meta.Upload{}
	err := s.tx(ctx, func(tx *txn) error {
		rows, err := tx.Query(ctx, `SELECT `+uploadColumns+` FROM uploads
			WHERE updated_at < $1 AND (holder = '' OR lease_until <= $2) ORDER BY id`, unixNano(before), unixNano(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			u, err := scanUpload(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range out {
			if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, u.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// AcquireLease takes or renews the lease called name.
func (s *Store) AcquireLease(ctx context.Context, name string, now time.Time, l meta.Lease) error {
	return s.single(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `INSERT INTO leases (name, holder, lease_until) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
			WHERE leases.holder = excluded.holder OR leases.lease_until <= $4`,
			name, l.Holder, zeroNano(l.Until), unixNano(now))
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n != 1 {
			return fmt.Errorf("lease %s is held by another: %w", name, errdefs.ErrConflict)
		}
		return nil
	})
}

// ReleaseLease gives up holder's lease called name.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.single(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
		return err
	})
}

// Reserve takes an attempt from every key, all or none. Each key is a
// GCRA counter: its theoretical arrival time moves on by Every per
// attempt, and an attempt is allowed while that stays within Burst × Every
// of now.
func (s *Store) Reserve(ctx context.Context, now time.Time, keys ...meta.RateKey) (time.Duration, error) {
	var wait time.Duration
	err := s.tx(ctx, func(tx *txn) error {
		wait = 0
		tats := make([]int64, len(keys))
		for i, k := range keys {
			if k.Burst < 1 || k.Every <= 0 {
				continue
			}
			tat, err := rateTAT(ctx, tx, k.Key)
			if err != nil {
				return err
			}
			tats[i] = max(tat, unixNano(now)) + int64(k.Every)
			if over := tats[i] - unixNano(now) - int64(k.Burst)*int64(k.Every); over > 0 {
				wait = max(wait, time.Duration(over))
			}
		}
		if wait > 0 {
			return nil
		}
		for i, k := range keys {
			if tats[i] == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rate_limits (key, tat) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`, k.Key, tats[i]); err != nil {
				return err
			}
		}
		// Counters back at rest are the same as none: drop a few each time,
		// so that the table stays small however many addresses try.
		_, err := tx.Exec(ctx, `DELETE FROM rate_limits WHERE key IN
			(SELECT key FROM rate_limits WHERE tat <= $1 LIMIT 16)`, unixNano(now))
		return err
	})
	return wait, err
}

func rateTAT(ctx context.Context, tx *txn, key string) (int64, error) {
	var tat int64
	err := tx.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat)
	if noRows(err) {
		return 0, nil
	}
	return tat, err
}

// Refund gives back an attempt Reserve took.
func (s *Store) Refund(ctx context.Context, now time.Time, keys ...meta.RateKey) error {
	return s.tx(ctx, func(tx *txn) error {
		for _, k := range keys {
			if k.Burst < 1 || k.Every <= 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE rate_limits SET tat = tat - $1 WHERE key = $2`, int64(k.Every), k.Key); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM rate_limits WHERE key = $1 AND tat <= $2`, k.Key, unixNano(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RememberAddress records that user signed in from addr.
func (s *Store) RememberAddress(ctx context.Context, user, addr string, until time.Time) error {
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `INSERT INTO known_addresses (username, addr, lease_until) VALUES ($1, $2, $3)
			ON CONFLICT (username, addr) DO UPDATE SET lease_until = GREATEST(known_addresses.lease_until, excluded.lease_until)`,
			user, addr, unixNano(until))
		return err
	})
}

// KnownAddress reports whether user signed in from addr, as remembered at now.
func (s *Store) KnownAddress(ctx context.Context, user, addr string, now time.Time) (bool, error) {
	var until int64
	err := s.db.QueryRow(ctx, `SELECT lease_until FROM known_addresses WHERE username = $1 AND addr = $2`, user, addr).Scan(&until)
	if noRows(err) {
		return false, nil
	}
	return err == nil && until > unixNano(now), err
}
