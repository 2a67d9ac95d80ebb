package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// AddSigningKey stores a token signing key.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, private, created_at, sign_from) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, k.ID, k.Private, unixNano(k.CreatedAt), unixNano(k.SignFrom))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("signing key %s: %w", k.ID, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

// SigningKeys lists the token signing keys by when they sign.
func (s *Store) SigningKeys(ctx context.Context) ([]meta.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, meta.SQLSigningKeys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanSigningKey)
}

// DeleteSigningKey forgets a token signing key.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
		return err
	})
}

// Secret returns the secret called name, storing value first when there is none.
func (s *Store) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var out []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&out)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("secret %s vanished: %w", name, errdefs.ErrUnavailable)
	}
	return out, err
}
