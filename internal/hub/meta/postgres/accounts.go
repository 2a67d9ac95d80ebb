package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateUser adds a user; the first is an administrator, and sign-up on
// the web (selfService) takes one only while it is open.
func (s *Store) CreateUser(ctx context.Context, u meta.User, selfService bool) error {
	return s.tx(ctx, func(tx *txn) error {
		var users int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
			return err
		}
		if selfService && users > 0 {
			var open string
			err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, meta.SettingSignup).Scan(&open)
			if err != nil && !noRows(err) {
				return err
			}
			if open != "on" {
				return fmt.Errorf("sign-up is closed on this hub: ask its administrator for an account: %w", errdefs.ErrForbidden)
			}
		}
		if err := meta.NameTaken(ctx, sqlTx{tx}, u.Name); err != nil {
			return err
		}
		gen, err := nextGeneration(ctx, tx)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO users (name, password_hash, admin, disabled, default_visibility, created_at, generation)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING`,
			u.Name, u.PasswordHash, u.Admin || users == 0, u.Disabled, string(orPublic(u.DefaultVisibility)), unixNano(u.CreatedAt), gen)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", u.Name, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

// nextGeneration takes the next value of the counter users' generations
// come from, so that none repeats.
func nextGeneration(ctx context.Context, tx *txn) (int64, error) {
	var gen int64
	err := tx.QueryRow(ctx, `INSERT INTO counters (name, value) VALUES ('generation', 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`).Scan(&gen)
	return gen, err
}

func orPublic(v meta.Visibility) meta.Visibility {
	if v == "" {
		return meta.Public
	}
	return v
}

const userColumns = `name, password_hash, admin, disabled, default_visibility, created_at, generation`

func scanUser(row interface{ Scan(...any) error }) (meta.User, error) {
	var u meta.User
	var vis string
	var created int64
	err := row.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &vis, &created, &u.Generation)
	u.DefaultVisibility, u.CreatedAt = meta.Visibility(vis), fromNano(created)
	return u, err
}

// User returns a user by name.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if noRows(err) {
		return u, notFound("user %q", name)
	}
	return u, err
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]meta.User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// enabledAdmins counts the administrators who may sign in.
func enabledAdmins(ctx context.Context, tx *txn) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE admin AND NOT disabled`).Scan(&n)
	return n, err
}

// keepAnAdmin runs change and refuses it when it took the last enabled
// administrator away from a hub that had one.
func keepAnAdmin(ctx context.Context, tx *txn, who string, change func() error) error {
	before, err := enabledAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := enabledAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return fmt.Errorf("%s is the hub's last administrator: make another user an administrator first: %w", who, errdefs.ErrConflict)
	}
	return nil
}

// UpdateUser writes the fields c sets; a new password or disabling signs
// the user out everywhere, in the same transaction.
func (s *Store) UpdateUser(ctx context.Context, name string, c meta.UserChange) error {
	var set []string
	var args []any
	revoke := []meta.CredentialKind{}
	if c.PasswordHash != nil {
		set, args = append(set, "password_hash = ?"), append(args, *c.PasswordHash)
		revoke = append(revoke, meta.KindSession, meta.KindRefresh)
	}
	if c.Admin != nil {
		set, args = append(set, "admin = ?"), append(args, *c.Admin)
	}
	if c.Disabled != nil {
		set, args = append(set, "disabled = ?"), append(args, *c.Disabled)
		if *c.Disabled {
			revoke = []meta.CredentialKind{meta.KindSession, meta.KindRefresh, meta.KindToken}
		}
	}
	if c.DefaultVisibility != nil {
		set, args = append(set, "default_visibility = ?"), append(args, string(orPublic(*c.DefaultVisibility)))
	}
	return s.tx(ctx, func(tx *txn) error {
		uid, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		return keepAnAdmin(ctx, tx, name, func() error {
			if len(revoke) > 0 {
				gen, err := nextGeneration(ctx, tx)
				if err != nil {
					return err
				}
				set, args = append(set, "generation = ?"), append(args, gen)
			}
			if err := update(ctx, tx, "users", set, args, name, "user"); err != nil {
				return err
			}
			return deleteCredentials(ctx, tx, uid, revoke...)
		})
	})
}

// DeleteUser removes a user and everything that is theirs.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *txn) error {
		uid, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		return keepAnAdmin(ctx, tx, name, func() error {
			rows, err := tx.Query(ctx, `SELECT id FROM repositories WHERE owner = $1`, name)
			if err != nil {
				return err
			}
			var repos []int64
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				repos = append(repos, id)
			}
			rows.Close()
			for _, id := range repos {
				if err := deleteRepo(ctx, tx, id); err != nil {
					return err
				}
			}
			for _, q := range []string{`DELETE FROM credentials WHERE user_id = $1`,
				`DELETE FROM collaborators WHERE user_id = $1`, `DELETE FROM org_members WHERE user_id = $1`, `DELETE FROM team_members WHERE user_id = $1`, `DELETE FROM users WHERE id = $1`} {
				if _, err := tx.Exec(ctx, q, uid); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, numbered(meta.SQLDeleteNamespaceRules), name); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM known_addresses WHERE username = $1`, name)
			return err
		})
	})
}

// CreateCredential stores a credential and returns its id.
func (s *Store) CreateCredential(ctx context.Context, c meta.Credential) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *txn) error {
		uid, err := userID(ctx, tx, c.User)
		if err != nil {
			return err
		}
		var parent any
		if c.Parent != 0 {
			parent = c.Parent
		}
		return tx.QueryRow(ctx, `INSERT INTO credentials (user_id, kind, name, hash, scope, parent_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, uid, string(c.Kind), c.Name, c.Hash, c.Scope, parent,
			unixNano(c.CreatedAt), zeroNano(c.ExpiresAt)).Scan(&id)
	})
	return id, err
}

// zeroNano stores a zero time as 0.
func zeroNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func zeroTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNano(n)
}

const credentialColumns = `c.id, u.name, c.kind, c.name, c.hash, c.scope, COALESCE(c.parent_id, 0),
	c.created_at, c.expires_at, c.last_used_at FROM credentials c JOIN users u ON u.id = c.user_id`

func scanCredential(row interface{ Scan(...any) error }) (meta.Credential, error) {
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
	return c, err
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
		return nil, err
	}
	defer rows.Close()
	out := []meta.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCredential revokes one of user's credentials and those made with it.
func (s *Store) DeleteCredential(ctx context.Context, user string, id int64) error {
	return s.tx(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND user_id = (SELECT id FROM users WHERE name = $2)`, id, user)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return notFound("credential %d of %q", id, user)
		}
		_, err = tx.Exec(ctx, `DELETE FROM credentials WHERE parent_id = $1`, id)
		return err
	})
}

// DeleteCredentials revokes all of user's credentials of the given kinds.
func (s *Store) DeleteCredentials(ctx context.Context, user string, kinds ...meta.CredentialKind) error {
	return s.tx(ctx, func(tx *txn) error {
		uid, err := userID(ctx, tx, user)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return deleteCredentials(ctx, tx, uid, kinds...)
	})
}

// deleteCredentials deletes a user's credentials of the given kinds, and
// those made with them.
func deleteCredentials(ctx context.Context, tx *txn, uid int64, kinds ...meta.CredentialKind) error {
	if len(kinds) == 0 {
		return nil
	}
	for _, k := range kinds {
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE kind = $1 AND user_id = $2`, string(k), uid); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM credentials WHERE parent_id IS NOT NULL
		AND parent_id NOT IN (SELECT id FROM credentials)`)
	return err
}

// TouchCredential records a use.
func (s *Store) TouchCredential(ctx context.Context, id int64, now time.Time) error {
	return s.tx(ctx, func(tx *txn) error {
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
	return v, err
}

// SetSetting stores a hub setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}
