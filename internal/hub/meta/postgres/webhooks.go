package postgres

import (
	"context"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateHook adds a hook to a repository.
func (s *Store) CreateHook(ctx context.Context, h meta.Hook) (int64, error) {
	var id int64
	q, args, on := meta.HookSQL(h)
	err := s.db.QueryRow(ctx, numbered(q), args...).Scan(&id)
	if noRows(err) {
		return 0, notFound("%s", on)
	}
	return id, err
}

// Hooks lists a repository's hooks.
func (s *Store) Hooks(ctx context.Context, repo string) ([]meta.Hook, error) {
	rows, err := s.db.Query(ctx, numbered(meta.SQLHooks), repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanHook)
}

// Hook returns a hook by id.
func (s *Store) Hook(ctx context.Context, id int64) (meta.Hook, error) {
	h, err := meta.ScanHook(s.db.QueryRow(ctx, numbered(meta.SQLHook), id))
	if noRows(err) {
		return h, notFound("webhook %d", id)
	}
	return h, err
}

// DeleteHook removes a repository's hook and its deliveries.
func (s *Store) DeleteHook(ctx context.Context, repo string, id int64) error {
	if _, err := s.db.Exec(ctx, numbered(meta.SQLDeleteHookDelivers), id, repo); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, numbered(meta.SQLDeleteHook), id, repo)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound("webhook %d of %q", id, repo)
	}
	return nil
}

// AddDelivery records a delivery.
func (s *Store) AddDelivery(ctx context.Context, d meta.Delivery) (int64, error) {
	var id int64
	if err := s.db.QueryRow(ctx, numbered(meta.SQLAddDelivery), meta.DeliveryArgs(d)...).Scan(&id); err != nil {
		return 0, err
	}
	_, err := s.db.Exec(ctx, numbered(meta.SQLPruneDeliveries), d.Hook, d.Hook, meta.DeliveriesKept)
	return id, err
}

// UpdateDelivery records a try.
func (s *Store) UpdateDelivery(ctx context.Context, d meta.Delivery) error {
	_, err := s.db.Exec(ctx, numbered(meta.SQLUpdateDelivery), meta.UpdateArgs(d)...)
	return err
}

// Delivery returns a delivery by id.
func (s *Store) Delivery(ctx context.Context, id int64) (meta.Delivery, error) {
	d, err := meta.ScanDelivery(s.db.QueryRow(ctx, numbered(meta.SQLDelivery), id))
	if noRows(err) {
		return d, notFound("delivery %d", id)
	}
	return d, err
}

// Deliveries lists a hook's latest deliveries.
func (s *Store) Deliveries(ctx context.Context, hook int64, n int) ([]meta.Delivery, error) {
	return s.deliveries(ctx, numbered(meta.SQLDeliveries), hook, n)
}

// StaleDeliveries lists pending deliveries no one updated since before.
func (s *Store) StaleDeliveries(ctx context.Context, before time.Time, n int) ([]meta.Delivery, error) {
	return s.deliveries(ctx, numbered(meta.SQLStale), unixNano(before), n)
}

func (s *Store) deliveries(ctx context.Context, query string, args ...any) ([]meta.Delivery, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanDelivery)
}
