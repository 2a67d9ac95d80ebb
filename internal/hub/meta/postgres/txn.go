package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// txn is a serializable transaction that spends as few round trips to the
// server as its statements allow: its BEGIN (and, for a transaction taken
// in turns, the advisory lock before it) goes in one batch with its first
// statement, and its COMMIT (and the unlock) in one batch at the end; a
// transaction of a single statement (see Store.single) sends everything in
// one batch. A transaction of n statements costs n+1 round trips, a single
// statement one, where BEGIN, COMMIT and the lock each cost one of their own.
type txn struct {
	c *pgxpool.Conn
	// before goes ahead of the first statement; after goes behind it when
	// the transaction is that one statement (then it commits with it).
	before, after []queued
	pending       []queued // sent after the statement being read
	scope         string
	begun         bool // before was sent
	locked        bool // the advisory lock of scope is held
	committed     bool
}

type queued struct {
	sql  string
	args []any
}

const (
	lockSQL     = `SELECT pg_advisory_lock(hashtextextended($1, 0))`
	unlockSQL   = `SELECT pg_advisory_unlock(hashtextextended($1, 0))`
	beginSQL    = `BEGIN ISOLATION LEVEL SERIALIZABLE`
	beginRowSQL = `BEGIN ISOLATION LEVEL READ COMMITTED`
)

// send sends sql with what goes before it (and after it, for a single
// statement) and reads the results of what went before. The caller reads
// sql's result, then calls done.
func (t *txn) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	pre, post := t.before, t.after
	t.before, t.after = nil, nil
	for _, q := range pre {
		b.Queue(q.sql, q.args...)
	}
	b.Queue(sql, args...)
	for _, q := range post {
		b.Queue(q.sql, q.args...)
	}
	t.begun = true
	br := t.c.SendBatch(ctx, b)
	for _, q := range pre {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
		if q.sql == lockSQL {
			t.locked = true
		}
	}
	t.pending = post
	return br, nil
}

// done reads the results of what went after the statement, and closes the batch.
func (t *txn) done(br pgx.BatchResults, err error) error {
	post := t.pending
	t.pending = nil
	for _, q := range post {
		if err != nil {
			break
		}
		if _, err = br.Exec(); err == nil {
			switch q.sql {
			case "COMMIT":
				t.committed = true
			case unlockSQL:
				t.locked = false
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (t *txn) queued() bool { return len(t.before) > 0 }

func (t *txn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !t.queued() {
		return t.c.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, t.done(br, err)
}

func (t *txn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !t.queued() {
		return t.c.QueryRow(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return batchRow{t: t, br: br, row: br.QueryRow()}
}

func (t *txn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !t.queued() {
		return t.c.Query(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		return nil, t.done(br, err)
	}
	return &batchRows{Rows: r, t: t, br: br}, nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// batchRow is a row that came in a batch: scanning it finishes the batch.
type batchRow struct {
	t   *txn
	br  pgx.BatchResults
	row pgx.Row
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		if derr := r.t.done(r.br, nil); derr != nil {
			return derr
		}
		return err
	}
	return r.t.done(r.br, err)
}

// batchRows are rows that came in a batch: closing them finishes the batch.
type batchRows struct {
	pgx.Rows
	t      *txn
	br     pgx.BatchResults
	err    error
	closed bool
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.t.done(r.br, r.Rows.Err())
}

func (r *batchRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

// finish commits a transaction that has not committed with its statement
// (and gives the advisory lock back with the COMMIT), or rolls back one
// that failed; whatever happens, the connection goes back to the pool
// idle and without the lock.
func (t *txn) finish(ctx context.Context, err error) error {
	if err == nil && t.begun && !t.committed {
		t.after = []queued{{sql: "COMMIT"}}
		if t.locked {
			t.after = append(t.after, queued{sql: unlockSQL, args: []any{t.scope}})
		}
		b := &pgx.Batch{}
		for _, q := range t.after {
			b.Queue(q.sql, q.args...)
		}
		t.pending, t.after = t.after, nil
		err = t.done(t.c.SendBatch(ctx, b), nil)
	}
	cleanup := context.WithoutCancel(ctx)
	if t.c.Conn().PgConn().TxStatus() != 'I' {
		t.c.Exec(cleanup, "ROLLBACK")
	}
	if t.locked {
		t.c.Exec(cleanup, unlockSQL, t.scope)
	}
	return err
}
