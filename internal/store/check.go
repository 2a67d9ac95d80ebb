package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Check verifies that every blob a stored manifest references is in the
// content store, and that every image has its manifest and layers; it
// returns the first problem found.
func (s *Store) Check(ctx context.Context) error {
	return s.readTx(ctx, func(tx *sql.Tx) error {
		ds, err := queryDigests(ctx, tx, `SELECT digest FROM manifests UNION SELECT blob FROM manifest_blobs`)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if _, err := s.content.Info(ctx, d); err != nil {
				return fmt.Errorf("store check: blob %s is referenced but %w", d, err)
			}
		}
		var bad string
		err = tx.QueryRowContext(ctx, `SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = i.manifest)
			OR NOT EXISTS (SELECT 1 FROM manifest_blobs b WHERE b.manifest = i.manifest AND b.blob = i.id) LIMIT 1`).Scan(&bad)
		if err == nil {
			return fmt.Errorf("store check: image %s has no manifest that names its config: %w", bad, errdefs.ErrNotFound)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT diff_id FROM image_layers il WHERE NOT EXISTS
			(SELECT 1 FROM layer_blobs b WHERE b.diff_id = il.diff_id) LIMIT 1`).Scan(&bad)
		if err == nil {
			return fmt.Errorf("store check: layer %s has no blob: %w", bad, errdefs.ErrNotFound)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return nil
	})
}
