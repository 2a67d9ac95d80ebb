package postgres

import (
	"context"
	"fmt"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// AddSigningKey stores a token signing key.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	return s.tx(ctx, func(tx *txn) error {
		tag, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, private, created_at, sign_from) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING`, k.ID, k.Private, unixNano(k.CreatedAt), unixNano(k.SignFrom))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("signing key %s: %w", k.ID, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

// SigningKeys lists the token signing keys by when they sign.
func (s *Store) SigningKeys(ctx context.Context) ([]meta.SigningKey, error) {
	rows, err := s.db.Query(ctx, meta.SQLSigningKeys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanSigningKey)
}

// DeleteSigningKey forgets a token signing key.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
		return err
	})
}

// Secret returns the secret called name, storing value first when there is none.
func (s *Store) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var out []byte
	err := s.tx(ctx, func(tx *txn) error {
		if _, err := tx.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&out)
	})
	if noRows(err) {
		err = fmt.Errorf("secret %s vanished: %w", name, errdefs.ErrUnavailable)
	}
	return out, err
}
