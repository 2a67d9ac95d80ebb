package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateUser adds a user.
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO users (name, password_hash, admin, disabled, default_visibility, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
			u.Name, u.PasswordHash, u.Admin, u.Disabled, string(orPublic(u.DefaultVisibility)), unixNano(u.CreatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", u.Name, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

func orPublic(v meta.Visibility) meta.Visibility {
	if v == "" {
		return meta.Public
	}
	return v
}

const userColumns = `name, password_hash, admin, disabled, default_visibility, created_at`

func scanUser(row pgx.Row) (meta.User, error) {
	var u meta.User
	var vis string
	var created int64
	err := row.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &vis, &created)
	u.DefaultVisibility, u.CreatedAt = meta.Visibility(vis), fromNano(created)
	return u, err
}

// User returns a user by name.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if noRows(err) {
		return u, notFound("user %q", name)
	}
	return u, classify(err)
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]meta.User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.User, error) { return scanUser(row) })
	if out == nil {
		out = []meta.User{}
	}
	return out, classify(err)
}

// keepAnAdmin runs change and refuses it when it took the last enabled
// administrator away from a hub that had one.
func keepAnAdmin(ctx context.Context, tx pgx.Tx, who string, change func() error) error {
	count := func() (int, error) {
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE admin AND NOT disabled`).Scan(&n)
		return n, err
	}
	before, err := count()
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := count()
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return fmt.Errorf("%s is the hub's last administrator: make another user an administrator first: %w", who, errdefs.ErrConflict)
	}
	return nil
}

// UpdateUser writes a user's password hash, flags and default visibility.
func (s *Store) UpdateUser(ctx context.Context, u meta.User) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		return keepAnAdmin(ctx, tx, u.Name, func() error {
			tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, admin = $2, disabled = $3, default_visibility = $4
				WHERE name = $5`, u.PasswordHash, u.Admin, u.Disabled, string(orPublic(u.DefaultVisibility)), u.Name)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return notFound("user %q", u.Name)
			}
			return nil
		})
	})
}

// DeleteUser removes a user and everything that is theirs.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		uid, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		return keepAnAdmin(ctx, tx, name, func() error {
			rows, err := tx.Query(ctx, `SELECT id FROM repositories WHERE owner = $1`, name)
			if err != nil {
				return err
			}
			repos, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if err := deleteRepos(ctx, tx, repos); err != nil {
				return err
			}
			for _, q := range []string{`DELETE FROM credentials WHERE user_id = $1`,
				`DELETE FROM collaborators WHERE user_id = $1`, `DELETE FROM users WHERE id = $1`} {
				if _, err := tx.Exec(ctx, q, uid); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// CreateCredential stores a credential and returns its id.
func (s *Store) CreateCredential(ctx context.Context, c meta.Credential) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		uid, err := userID(ctx, tx, c.User)
		if err != nil {
			return err
		}
		var parent *int64
		if c.Parent != 0 {
			parent = &c.Parent
		}
		return tx.QueryRow(ctx, `INSERT INTO credentials (user_id, kind, name, hash, scope, parent_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, uid, string(c.Kind), c.Name, c.Hash, c.Scope, parent,
			unixNano(c.CreatedAt), zeroNano(c.ExpiresAt)).Scan(&id)
	})
	return id, err
}

const credentialColumns = `c.id, u.name, c.kind, c.name, c.hash, c.scope, COALESCE(c.parent_id, 0),
	c.created_at, c.expires_at, c.last_used_at FROM credentials c JOIN users u ON u.id = c.user_id`

func scanCredential(row pgx.Row) (meta.Credential, error) {
	var c meta.Credential
	var kind string
	var created, expires, used int64
	err := row.Scan(&c.ID, &c.User, &kind, &c.Name, &c.Hash, &c.Scope, &c.Parent, &created, &expires, &used)
	c.Kind, c.CreatedAt, c.ExpiresAt, c.LastUsedAt = meta.CredentialKind(kind), fromNano(created), zeroTime(expires), zeroTime(used)
	return c, err
}

func (s *Store) credentialWhere(ctx context.Context, cond string, arg any) (meta.Credential, error) {
	c, err := scanCredential(s.db.QueryRow(ctx, `SELECT `+credentialColumns+` WHERE `+cond, arg))
	if noRows(err) {
		return c, notFound("credential")
	}
	return c, classify(err)
}

// CredentialByHash finds a credential by the hash of its secret.
func (s *Store) CredentialByHash(ctx context.Context, hash string) (meta.Credential, error) {
	return s.credentialWhere(ctx, `c.hash = $1`, hash)
}

// CredentialByID finds a credential by id.
func (s *Store) CredentialByID(ctx context.Context, id int64) (meta.Credential, error) {
	return s.credentialWhere(ctx, `c.id = $1`, id)
}

// Credentials lists a user's credentials of one kind, newest first.
func (s *Store) Credentials(ctx context.Context, user string, kind meta.CredentialKind) ([]meta.Credential, error) {
	rows, err := s.db.Query(ctx, `SELECT `+credentialColumns+` WHERE u.name = $1 AND c.kind = $2
		ORDER BY c.created_at DESC, c.id DESC`, user, string(kind))
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Credential, error) { return scanCredential(row) })
	if out == nil {
		out = []meta.Credential{}
	}
	return out, classify(err)
}

// DeleteCredential revokes one of user's credentials and those made with it.
func (s *Store) DeleteCredential(ctx context.Context, user string, id int64) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND user_id = (SELECT id FROM users WHERE name = $2)`, id, user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("credential %d of %q", id, user)
		}
		_, err = tx.Exec(ctx, `DELETE FROM credentials WHERE parent_id = $1`, id)
		return err
	})
}

// DeleteCredentials revokes all of user's credentials of the given kinds.
func (s *Store) DeleteCredentials(ctx context.Context, user string, kinds ...meta.CredentialKind) error {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE kind = ANY($1)
			AND user_id = (SELECT id FROM users WHERE name = $2)`, ks, user); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM credentials WHERE parent_id IS NOT NULL
			AND parent_id NOT IN (SELECT id FROM credentials)`)
		return err
	})
}

// TouchCredential records a use.
func (s *Store) TouchCredential(ctx context.Context, id int64, now time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE credentials SET last_used_at = $1 WHERE id = $2`, unixNano(now), id)
		return err
	})
}

// Setting returns a hub setting, "" when unset.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if noRows(err) {
		return "", nil
	}
	return v, classify(err)
}

// SetSetting stores a hub setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}
