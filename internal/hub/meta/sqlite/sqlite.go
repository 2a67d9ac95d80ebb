// Package sqlite is the hub's metadata in one SQLite file (pure Go,
// modernc.org/sqlite), in WAL mode with a busy timeout, so that `strata hub
// gc` can work on the same file as a running hub.
//
// Writes go through one connection (SQLite has one writer at a time anyway;
// queueing in Go is cheaper than retrying on SQLITE_BUSY), reads through a
// small pool that WAL lets run beside it. synchronous=NORMAL: a commit is
// atomic and the file never corrupts; on power loss the last commits may be
// lost, like the page cache of a blob that was never fsynced. Blob content
// is fsynced before its record says live, so no record points at nothing.
//
// The schema is in schema.go, versioned with PRAGMA user_version.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// Store implements meta.Store on a SQLite file.
type Store struct {
	w *sql.DB // the one writer
	r *sql.DB // readers
	meta.SQLOrgs
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating and migrating as needed) the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(OFF)")
		return "file:" + path + "?" + q.Encode() + extra
	}
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	s.SQLOrgs = s.sharedSQL()
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.r = r
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when it
// returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func unixNano(t time.Time) int64 { return t.UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n) }

// pulledAt reads a last pull: 0 is never.
func pulledAt(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNano(n)
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// repoID returns the id of a repository, or meta's not-found error.
func repoID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("repository %q", name)
	}
	return id, err
}

// ensureRepo returns the id of a repository, creating it for the user or
// organization its namespace names (with their default visibility), or
// public with no owner when none has that name.
func ensureRepo(ctx context.Context, tx *sql.Tx, name string, now time.Time) (int64, error) {
	ns, _, nested := strings.Cut(name, "/")
	if !nested {
		ns = ""
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO repositories (name, owner, visibility, created_at, namespace)
		SELECT ?1, COALESCE(u.name, o.name), COALESCE(u.default_visibility, o.default_visibility, ?2), ?3, ?5
		FROM (SELECT 1) LEFT JOIN users u ON u.name = ?4 LEFT JOIN orgs o ON o.name = ?4
		WHERE true ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`,
		name, string(meta.Public), unixNano(now), ns, meta.Namespace(name)).Scan(&id)
	return id, err
}

// Repository returns a repository by name.
func (s *Store) Repository(ctx context.Context, name string) (meta.Repository, error) {
	var r meta.Repository
	var owner sql.NullString
	var vis string
	var created int64
	var pulled int64
	err := s.r.QueryRowContext(ctx, `SELECT name, owner, visibility, description, created_at, pulls, last_pulled_at
		FROM repositories WHERE name = ?`, name).
		Scan(&r.Name, &owner, &vis, &r.Description, &created, &r.Pulls, &pulled)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("repository %q", name)
	}
	r.Owner, r.Visibility, r.CreatedAt, r.LastPulled = owner.String, meta.Visibility(vis), fromNano(created), pulledAt(pulled)
	return r, err
}

// page runs a listing query whose parameters are (after, limit) and reports
// whether more rows follow.
func page(ctx context.Context, q querier, p meta.Page, query string, args ...any) ([]string, bool, error) {
	limit := int64(p.N) + 1
	if p.N < 0 {
		limit = -1
	}
	rows, err := q.QueryContext(ctx, query, append(args, p.Last, limit)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, false, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if p.N >= 0 && len(out) > p.N {
		return out[:p.N], true, nil
	}
	return out, false, nil
}

// Tags lists a repository's tags in byte order.
func (s *Store) Tags(ctx context.Context, repo string, p meta.Page) ([]string, bool, error) {
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, false, err
	}
	return page(ctx, s.r, p, `SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?`, id)
}
