package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateHook adds a hook to a repository.
func (s *Store) CreateHook(ctx context.Context, h meta.Hook) (int64, error) {
	var id int64
	q, args, on := meta.HookSQL(h)
	err := s.w.QueryRowContext(ctx, q, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("%s", on)
	}
	return id, err
}

// Hooks lists a repository's hooks.
func (s *Store) Hooks(ctx context.Context, repo string) ([]meta.Hook, error) {
	rows, err := s.r.QueryContext(ctx, meta.SQLHooks, repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanHook)
}

// Hook returns a hook by id.
func (s *Store) Hook(ctx context.Context, id int64) (meta.Hook, error) {
	h, err := meta.ScanHook(s.r.QueryRowContext(ctx, meta.SQLHook, id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, notFound("webhook %d", id)
	}
	return h, err
}

// DeleteHook removes a repository's hook and its deliveries.
func (s *Store) DeleteHook(ctx context.Context, repo string, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, meta.SQLDeleteHookDelivers, id, repo); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, meta.SQLDeleteHook, id, repo)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("webhook %d of %q", id, repo)
		}
		return nil
	})
}

// AddDelivery records a delivery.
func (s *Store) AddDelivery(ctx context.Context, d meta.Delivery) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, meta.SQLAddDelivery, meta.DeliveryArgs(d)...).Scan(&id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, meta.SQLPruneDeliveries, d.Hook, d.Hook, meta.DeliveriesKept)
		return err
	})
	return id, err
}

// UpdateDelivery records a try.
func (s *Store) UpdateDelivery(ctx context.Context, d meta.Delivery) error {
	_, err := s.w.ExecContext(ctx, meta.SQLUpdateDelivery, meta.UpdateArgs(d)...)
	return err
}

// Delivery returns a delivery by id.
func (s *Store) Delivery(ctx context.Context, id int64) (meta.Delivery, error) {
	d, err := meta.ScanDelivery(s.r.QueryRowContext(ctx, meta.SQLDelivery, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("delivery %d", id)
	}
	return d, err
}

// Deliveries lists a hook's latest deliveries.
func (s *Store) Deliveries(ctx context.Context, hook int64, n int) ([]meta.Delivery, error) {
	return s.deliveries(ctx, meta.SQLDeliveries, hook, n)
}

// StaleDeliveries lists pending deliveries no one updated since before.
func (s *Store) StaleDeliveries(ctx context.Context, before time.Time, n int) ([]meta.Delivery, error) {
	return s.deliveries(ctx, meta.SQLStale, unixNano(before), n)
}

func (s *Store) deliveries(ctx context.Context, query string, args ...any) ([]meta.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanDelivery)
}
