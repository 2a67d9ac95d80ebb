package sqlite

import (
	"context"
	"database/sql"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// sqlTx is a querier as meta's shared SQL code uses it.
type sqlTx struct{ q querier }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqlTx) QueryRow(ctx context.Context, query string, args ...any) meta.Scanner {
	return meta.NoRowsAs(t.q.QueryRowContext(ctx, query, args...), sql.ErrNoRows)
}

func (t sqlTx) Each(ctx context.Context, query string, args []any, fn func(meta.Scanner) error) error {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return meta.EachRow(rows, fn)
}

// sharedSQL is meta's shared SQL code over s: writes in its write
// transactions, reads on its readers.
func (s *Store) sharedSQL() meta.SQLOrgs {
	return meta.SQLOrgs{
		Write: func(ctx context.Context, fn func(meta.SQLTx) error) error {
			return s.tx(ctx, func(tx *sql.Tx) error { return fn(sqlTx{tx}) })
		},
		Read: func(ctx context.Context, fn func(meta.SQLTx) error) error { return fn(sqlTx{s.r}) },
	}
}
