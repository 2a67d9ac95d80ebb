// Package postgres is the hub's metadata in PostgreSQL (jackc/pgx/v5), for
// a hub that outgrows one machine: any number of hub processes share one
// database, so nothing a request needs lives in a process.
//
// Every write runs in a SERIALIZABLE transaction, retried when PostgreSQL
// reports a serialization failure or deadlock, so the read-then-write steps
// of meta's state machine (reserve a blob, mark garbage, keep an
// administrator) hold across processes as they do in SQLite's single
// writer. Times are unix nanoseconds in BIGINT columns, as in meta/sqlite,
// so that both round-trip exactly; names sort in byte order (COLLATE "C").
//
// The schema is in schema.go: numbered migrations, the same scheme as
// meta/sqlite, applied under an advisory lock so that nodes starting at
// once migrate one at a time. A database the server cannot reach or that
// goes away mid-request is an errdefs.ErrUnavailable (503: try again).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Store implements meta.Store on a PostgreSQL database.
type Store struct {
	db pool
	meta.SQLOrgs
}

// pool is the connection pool, its errors classified (see classify), so
// that every read outside a transaction reports a database that went away
// as ErrUnavailable.
type pool struct{ *pgxpool.Pool }

func (p pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return row{p.Pool.QueryRow(ctx, sql, args...)}
}

func (p pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

func (p pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := p.Pool.Exec(ctx, sql, args...)
	return tag, classify(err)
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error { return classify(r.Row.Scan(dest...)) }

type rows struct{ pgx.Rows }

func (r rows) Err() error { return classify(r.Rows.Err()) }

func (r rows) Scan(dest ...any) error { return classify(r.Rows.Scan(dest...)) }

var _ meta.Store = (*Store)(nil)

// Open connects to the database at url (postgres://...), creating and
// migrating the schema as needed.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, Options{})
}

// Options tune a connection.
type Options struct {
	// Tracer sees every statement (metrics); it may also be a pgx.ConnectTracer.
	Tracer pgx.QueryTracer
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %v: %w", err, errdefs.ErrInvalidArgument) // pgx hides the password
	}
	if o.Tracer != nil {
		cfg.ConnConfig.Tracer = o.Tracer
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", classify(err))
	}
	s := &Store{db: pool{db}}
	s.SQLOrgs = s.sharedSQL()
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	s.db.Close()
	return nil
}

// querier is what a pool and a transaction both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tx runs fn in a serializable transaction (see txn), committing when it
// returns nil, and runs it again when PostgreSQL could not serialize it
// (after a random wait that doubles, up to about two seconds in all); one
// that still cannot is ErrUnavailable, for the client to try again.
func (s *Store) tx(ctx context.Context, fn func(*txn) error) error {
	return s.run(ctx, "", "", fn)
}

// txIn is tx taken in turns with the other transactions of scope (a
// namespace whose usage they count, say): a session advisory lock is taken
// before the transaction begins, so each one's snapshot sees what the one
// before committed and they do not clash. scope "" takes no turns.
func (s *Store) txIn(ctx context.Context, scope string, fn func(*txn) error) error {
	return s.run(ctx, scope, "", fn)
}

// single is tx for fn that runs one statement whose effect is the whole
// change (fn may still refuse what it returns, but then it changed
// nothing): BEGIN, the statement and COMMIT go in one round trip.
func (s *Store) single(ctx context.Context, fn func(*txn) error) error {
	return s.run(ctx, "", beginSQL, fn)
}

// row is single for a statement that changes one row chosen by its key,
// under conditions on that row alone (a lease's holder, say): it runs
// READ COMMITTED, where PostgreSQL checks the conditions again on the row
// as the statement finds it, which is all such a change needs; as
// SERIALIZABLE, uploads being leased and recorded at once would fail each
// other on the predicate locks of pages they share. A serializable
// transaction that read the row before and changes it after still fails
// to serialize, and runs again.
func (s *Store) row(ctx context.Context, fn func(*txn) error) error {
	return s.run(ctx, "", beginRowSQL, fn)
}

// run runs fn in a transaction: in turns with scope's when scope is not
// "", and as one statement sent with its BEGIN (single's begin) and COMMIT
// when single is not "".
func (s *Store) run(ctx context.Context, scope, single string, fn func(*txn) error) error {
	var err error
	wait := time.Millisecond
	for range 20 {
		err = s.attempt(ctx, scope, single, fn)
		if !retryable(err) {
			return classify(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
	return fmt.Errorf("database: too busy to serialize the change: %w (%w)", errdefs.ErrUnavailable, err)
}

func (s *Store) attempt(ctx context.Context, scope, single string, fn func(*txn) error) error {
	c, err := s.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	t := &txn{c: c, scope: scope}
	if scope != "" {
		// The lock takes an implicit transaction of its own, ended before
		// BEGIN (the batch would otherwise make it part of the serializable
		// one, its snapshot taken before the wait): PostgreSQL warns of a
		// COMMIT without BEGIN, and commits.
		t.before = append(t.before, queued{lockSQL, []any{scope}}, queued{sql: "COMMIT"})
	}
	if single == "" {
		t.before = append(t.before, queued{sql: beginSQL})
	} else {
		t.before = append(t.before, queued{sql: single})
		t.after = append(t.after, queued{sql: "COMMIT"})
		if scope != "" {
			t.after = append(t.after, queued{unlockSQL, []any{scope}})
		}
	}
	return t.finish(ctx, fn(t))
}

// retryable: a serialization failure, a deadlock, or a unique violation
// raised by a concurrent insert of the same key.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "23505")
}

// classify makes a database that cannot be reached an ErrUnavailable, and
// passes every other error through.
func classify(err error) error {
	if err == nil || errors.Is(err, errdefs.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		// 08: connection exception; 57P0x: the server is shutting down or starting.
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300" {
			return fmt.Errorf("database: %w (%w)", errdefs.ErrUnavailable, err)
		}
		return err
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		strings.Contains(err.Error(), "conn closed"), strings.Contains(err.Error(), "unexpected EOF"):
		return fmt.Errorf("database: %w (%w)", errdefs.ErrUnavailable, err)
	}
	return err
}

// noRows reports a query that found nothing.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func unixNano(t time.Time) int64 { return t.UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n) }

// pulledAt reads a last pull: 0 is never.
func pulledAt(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNano(n)
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrNotFound)
}

// numbered writes the ? parameters of a query built in pieces as $1, $2, ...
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// limit is a page's LIMIT: one more than asked (to tell whether more
// follow), or NULL (no limit) for N < 0.
func limit(p meta.Page) any {
	if p.N < 0 {
		return nil
	}
	return int64(p.N) + 1
}

// cut trims a page fetched with limit to its size and says whether more follow.
func cut[T any](out []T, p meta.Page) ([]T, bool) {
	if p.N >= 0 && len(out) > p.N {
		return out[:p.N], true
	}
	return out, false
}

// repoID returns the id of a repository, or meta's not-found error.
func repoID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM repositories WHERE name = $1`, name).Scan(&id)
	if noRows(err) {
		return 0, notFound("repository %q", name)
	}
	return id, err
}

// ensureRepo returns the id of a repository, creating it for the user or
// organization its namespace names (with their default visibility), or
// public with no owner when none has that name.
func ensureRepo(ctx context.Context, tx *txn, name string, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, ensureRepoSQL, ensureRepoArgs(name, now)...).Scan(&id)
	return id, err
}

// ensureRepoSQL is ensureRepo's statement, of ensureRepoArgs ($1 to $5),
// returning the repository's id.
var ensureRepoSQL = `WITH ` + repoCTEs("") + ` SELECT id FROM r`

// repoCTEs make r the repository's id (see ensureRepoSQL), creating it
// only when cond (" AND ...", or "") holds: one that exists is only read,
// so that pushes into a repository do not all write its row (and fail
// each other's serializable transactions). A repository made meanwhile by
// another is a serialization failure (ON CONFLICT DO NOTHING on a row the
// snapshot cannot see), and the transaction runs again.
func repoCTEs(cond string) string {
	return `found AS (SELECT id FROM repositories WHERE name = $1),
	made AS (INSERT INTO repositories (name, owner, visibility, created_at, namespace)
		SELECT $1, COALESCE(u.name, o.name), COALESCE(u.default_visibility, o.default_visibility, $2), $3, $5
		FROM (SELECT 1) AS one LEFT JOIN users u ON u.name = $4 LEFT JOIN orgs o ON o.name = $4
		WHERE NOT EXISTS (SELECT 1 FROM found)` + cond + `
		ON CONFLICT (name) DO NOTHING RETURNING id),
	r AS (SELECT id FROM found UNION ALL SELECT id FROM made)`
}

func ensureRepoArgs(name string, now time.Time) []any {
	ns, _, nested := strings.Cut(name, "/")
	if !nested {
		ns = ""
	}
	return []any{name, string(meta.Public), unixNano(now), ns, meta.Namespace(name)}
}

// Repository returns a repository by name.
func (s *Store) Repository(ctx context.Context, name string) (meta.Repository, error) {
	var r meta.Repository
	var owner *string
	var vis string
	var created int64
	var pulled int64
	err := s.db.QueryRow(ctx, `SELECT name, owner, visibility, description, created_at, pulls, last_pulled_at
		FROM repositories WHERE name = $1`, name).
		Scan(&r.Name, &owner, &vis, &r.Description, &created, &r.Pulls, &pulled)
	if noRows(err) {
		return r, notFound("repository %q", name)
	}
	if owner != nil {
		r.Owner = *owner
	}
	r.Visibility, r.CreatedAt, r.LastPulled = meta.Visibility(vis), fromNano(created), pulledAt(pulled)
	return r, classify(err)
}

// collectStrings runs a one-column text query.
func collectStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, classify(err)
}

// Tags lists a repository's tags in byte order.
func (s *Store) Tags(ctx context.Context, repo string, p meta.Page) ([]string, bool, error) {
	id, err := repoID(ctx, s.db, repo)
	if err != nil {
		return nil, false, classify(err)
	}
	out, err := collectStrings(ctx, s.db, `SELECT name FROM tags WHERE repo_id = $1 AND name > $2 ORDER BY name LIMIT $3`,
		id, p.Last, limit(p))
	if err != nil {
		return nil, false, err
	}
	out, more := cut(out, p)
	return out, more, nil
}
