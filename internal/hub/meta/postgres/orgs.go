package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// sqlTx is a querier as meta's shared SQL code uses it (? parameters).
type sqlTx struct{ q querier }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.q.Exec(ctx, numbered(query), args...)
	return tag.RowsAffected(), err
}

func (t sqlTx) QueryRow(ctx context.Context, query string, args ...any) meta.Scanner {
	return meta.NoRowsAs(t.q.QueryRow(ctx, numbered(query), args...), pgx.ErrNoRows)
}

func (t sqlTx) Each(ctx context.Context, query string, args []any, fn func(meta.Scanner) error) error {
	rows, err := t.q.Query(ctx, numbered(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return meta.EachRow(rows, fn)
}

// sharedSQL is meta's shared SQL code over s: writes in its serializable
// transactions, reads on its pool.
func (s *Store) sharedSQL() meta.SQLOrgs {
	return meta.SQLOrgs{
		Write: func(ctx context.Context, fn func(meta.SQLTx) error) error {
			return s.tx(ctx, func(tx *txn) error { return fn(sqlTx{tx}) })
		},
		Read: func(ctx context.Context, fn func(meta.SQLTx) error) error { return fn(sqlTx{s.db}) },
	}
}
