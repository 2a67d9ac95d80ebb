package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// table is one table moved as it is: both schemas name the same columns
// (meta/sqlite's version 2 is meta/postgres's version 1).
type table struct {
	name    string
	columns []string
	from    []string        // the SQLite columns, where their names differ
	where   string          // which rows ("" all)
	bools   map[string]bool // columns SQLite keeps as 0/1 and PostgreSQL as BOOLEAN
	serial  bool            // id is a BIGSERIAL whose sequence must follow
}

// tables lists every table of the metadata, parents first. Blobs that are
// not live (a push or a collection in flight) stay behind, as their content
// did, and so do uploads in flight, job leases and rate-limit counters.
var tables = []table{
	{name: "users", columns: []string{"id", "name", "password_hash", "admin", "disabled", "default_visibility", "created_at", "generation"},
		bools: map[string]bool{"admin": true, "disabled": true}, serial: true},
	{name: "counters", columns: []string{"name", "value"}},
	{name: "repositories", columns: []string{"id", "name", "owner", "visibility", "description", "namespace", "created_at", "overview", "pulls", "last_pulled_at"}, serial: true},
	{name: "blobs", columns: []string{"digest", "size", "state", "created_at"}, where: "state = 2"},
	{name: "links", columns: []string{"repo_id", "digest", "touched_at"}},
	{name: "manifests", columns: []string{"repo_id", "digest", "media_type", "content", "artifact_type", "annotations", "subject", "created_at"}},
	{name: "manifest_blobs", columns: []string{"repo_id", "manifest", "blob"}},
	{name: "manifest_children", columns: []string{"repo_id", "manifest", "child"}},
	{name: "tags", columns: []string{"repo_id", "name", "digest", "updated_at"}},
	{name: "credentials", columns: []string{"id", "user_id", "kind", "name", "hash", "scope", "parent_id", "created_at", "expires_at", "last_used_at"}, serial: true},
	{name: "collaborators", columns: []string{"repo_id", "user_id", "role"}},
	{name: "settings", columns: []string{"key", "value"}},
	{name: "known_addresses", columns: []string{"username", "addr", "lease_until"}, from: []string{"user", "addr", "lease_until"}},
	{name: "signing_keys", columns: []string{"id", "private", "created_at", "sign_from"}},
	{name: "secrets", columns: []string{"name", "value"}},
}

// copyRows copies every table from the snapshot into PostgreSQL, in one
// transaction, and returns how many rows it wrote.
func copyRows(ctx context.Context, snap *sql.Tx, conn *pgx.Conn) (int, error) {
	total := 0
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range tables {
			rows, err := readTable(ctx, snap, t)
			if err != nil {
				return fmt.Errorf("read %s: %w", t.name, err)
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("write %s: %w", t.name, err)
			}
			if int(n) != len(rows) {
				return fmt.Errorf("write %s: %d of %d rows", t.name, n, len(rows))
			}
			total += int(n)
			if t.serial {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'),
					COALESCE((SELECT max(id) FROM %s), 0) + 1, false)`, t.name, t.name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return total, err
}

// readTable reads t's rows, converting what the two databases type apart.
func readTable(ctx context.Context, snap *sql.Tx, t table) ([][]any, error) {
	from := t.from
	if from == nil {
		from = t.columns
	}
	q := "SELECT " + strings.Join(from, ", ") + " FROM " + t.name
	if t.where != "" {
		q += " WHERE " + t.where
	}
	rows, err := snap.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(t.columns))
		ptrs := make([]any, len(t.columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, c := range t.columns {
			switch v := vals[i].(type) {
			case int64:
				if t.bools[c] {
					vals[i] = v != 0
				}
			case string:
				if c == "content" {
					vals[i] = []byte(v)
				}
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}
