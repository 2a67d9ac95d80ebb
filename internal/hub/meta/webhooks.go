package meta

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Hook is a webhook on a repository or an organization: events are
// POSTed to URL, signed with Secret.
type Hook struct {
	ID         int64
	Repository string // the repository it is on, "" for an organization's
	Org        string // the organization it is on: it hears every repository of its namespace
	URL        string
	Secret     string
	Events     []string // what it is told of (webhook.Push, ...)
	CreatedBy  string
	CreatedAt  time.Time
}

// DeliveryState is where a delivery is.
type DeliveryState string

const (
	DeliveryPending DeliveryState = "pending" // being tried, or waiting for its next try
	DeliveryOK      DeliveryState = "ok"      // the receiver answered 2xx
	DeliveryFailed  DeliveryState = "failed"  // every try failed
)

// Delivery is one event sent (or being sent) to one hook.
type Delivery struct {
	ID        int64
	Hook      int64
	Event     string
	Payload   []byte
	State     DeliveryState
	Attempts  int
	Code      int           // the last answer's HTTP status, 0 none
	Duration  time.Duration // the last try's
	Error     string        // the last try's problem, "" none
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Webhooks are the repositories' hooks and their delivery log. A hook
// belongs to its repository: deleting the repository makes its hooks
// unreachable, and a repository made again under the name has none.
// Organizations' hooks are made here too (Hook.Org), and listed and
// deleted through Orgs.
type Webhooks interface {
	// CreateHook adds a hook to h.Repository (or h.Org) and returns its
	// id; ErrNotFound without the repository (organization).
	CreateHook(ctx context.Context, h Hook) (int64, error)
	// Hooks lists a repository's hooks, oldest first (none for a missing repository).
	Hooks(ctx context.Context, repo string) ([]Hook, error)
	// Hook returns a hook by id.
	Hook(ctx context.Context, id int64) (Hook, error)
	// DeleteHook removes a hook of repo, with its deliveries; ErrNotFound when repo has no such hook.
	DeleteHook(ctx context.Context, repo string, id int64) error
	// AddDelivery records a delivery and returns its id; the hook's
	// oldest beyond the latest DeliveriesKept are forgotten.
	AddDelivery(ctx context.Context, d Delivery) (int64, error)
	// UpdateDelivery records a try: d's State, Attempts, Code, Duration, Error and UpdatedAt.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// Delivery returns a delivery by id.
	Delivery(ctx context.Context, id int64) (Delivery, error)
	// Deliveries lists a hook's latest n deliveries, newest first.
	Deliveries(ctx context.Context, hook int64, n int) ([]Delivery, error)
	// StaleDeliveries lists at most n pending deliveries last updated
	// before `before` (their sender is gone), oldest first.
	StaleDeliveries(ctx context.Context, before time.Time, n int) ([]Delivery, error)
}

// DeliveriesKept is how many of a hook's deliveries are kept.
const DeliveriesKept = 100

// The statements of the SQL stores' Webhooks, with ? parameters.
const (
	SQLCreateHook = `INSERT INTO webhooks (repo_id, url, secret, events, created_by, created_at)
		SELECT id, ?, ?, ?, ?, ? FROM repositories WHERE name = ? RETURNING id`
	// SQLCreateOrgHook is SQLCreateHook for a hook of an organization.
	SQLCreateOrgHook = `INSERT INTO webhooks (repo_id, org_id, url, secret, events, created_by, created_at)
		SELECT 0, id, ?, ?, ?, ?, ? FROM orgs WHERE name = ? RETURNING id`
	sqlHookColumns = `SELECT h.id, COALESCE(r.name, ''), COALESCE(o.name, ''), h.url, h.secret, h.events, h.created_by, h.created_at
		FROM webhooks h LEFT JOIN repositories r ON r.id = h.repo_id LEFT JOIN orgs o ON o.id = h.org_id `
	SQLHooks              = sqlHookColumns + `WHERE r.name = ? ORDER BY h.id`
	SQLOrgHooks           = sqlHookColumns + `WHERE o.name = ? ORDER BY h.id`
	SQLHook               = sqlHookColumns + `WHERE h.id = ? AND (r.id IS NOT NULL OR o.id IS NOT NULL)`
	SQLDeleteHookDelivers = `DELETE FROM webhook_deliveries WHERE hook_id IN
		(SELECT h.id FROM webhooks h JOIN repositories r ON r.id = h.repo_id WHERE h.id = ? AND r.name = ?)`
	SQLDeleteHook  = `DELETE FROM webhooks WHERE id = ? AND repo_id IN (SELECT id FROM repositories WHERE name = ?)`
	SQLAddDelivery = `INSERT INTO webhook_deliveries (hook_id, event, payload, state, attempts, code, duration_ns, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	SQLPruneDeliveries = `DELETE FROM webhook_deliveries WHERE hook_id = ? AND id <=
		(SELECT id FROM webhook_deliveries WHERE hook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`
	SQLUpdateDelivery = `UPDATE webhook_deliveries SET state = ?, attempts = ?, code = ?, duration_ns = ?, error = ?, updated_at = ?
		WHERE id = ?`
	sqlDeliveryColumns = `SELECT id, hook_id, event, payload, state, attempts, code, duration_ns, error, created_at, updated_at
		FROM webhook_deliveries `
	SQLDelivery   = sqlDeliveryColumns + `WHERE id = ?`
	SQLDeliveries = sqlDeliveryColumns + `WHERE hook_id = ? ORDER BY id DESC LIMIT ?`
	SQLStale      = sqlDeliveryColumns + `WHERE state = 'pending' AND updated_at < ? ORDER BY updated_at, id LIMIT ?`
)

// HookSQL is the statement (SQLCreateHook or SQLCreateOrgHook) and its
// arguments that add h, and what h is on (for a not-found error).
func HookSQL(h Hook) (query string, args []any, on string) {
	query, on = SQLCreateHook, "repository "+strconv.Quote(h.Repository)
	if h.Org != "" {
		query, on = SQLCreateOrgHook, "organization "+strconv.Quote(h.Org)
	}
	return query, []any{h.URL, h.Secret, strings.Join(h.Events, ","), h.CreatedBy, h.CreatedAt.UnixNano(), h.Repository + h.Org}, on
}

// DeliveryArgs are SQLAddDelivery's arguments for d.
func DeliveryArgs(d Delivery) []any {
	return []any{d.Hook, d.Event, d.Payload, string(d.State), d.Attempts, d.Code, int64(d.Duration), d.Error,
		d.CreatedAt.UnixNano(), d.UpdatedAt.UnixNano()}
}

// UpdateArgs are SQLUpdateDelivery's arguments for d.
func UpdateArgs(d Delivery) []any {
	return []any{string(d.State), d.Attempts, d.Code, int64(d.Duration), d.Error, d.UpdatedAt.UnixNano(), d.ID}
}

// Scanner is a row of the SQL stores.
type Scanner interface{ Scan(dest ...any) error }

// Rows are the rows of a query, as database/sql and pgx both give them.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect reads every row of rows with scan.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// SQLSigningKeys lists the token signing keys by when they sign, for
// ScanSigningKey.
const SQLSigningKeys = `SELECT id, private, created_at, sign_from FROM signing_keys ORDER BY sign_from, id`

// ScanSigningKey reads a row of SQLSigningKeys.
func ScanSigningKey(row Scanner) (SigningKey, error) {
	var k SigningKey
	var created, from int64
	err := row.Scan(&k.ID, &k.Private, &created, &from)
	k.CreatedAt, k.SignFrom = time.Unix(0, created), time.Unix(0, from)
	return k, err
}

// ScanHook reads a row of SQLHooks or SQLHook.
func ScanHook(row Scanner) (Hook, error) {
	var h Hook
	var events string
	var created int64
	err := row.Scan(&h.ID, &h.Repository, &h.Org, &h.URL, &h.Secret, &events, &h.CreatedBy, &created)
	if events != "" {
		h.Events = strings.Split(events, ",")
	}
	h.CreatedAt = time.Unix(0, created)
	return h, err
}

// ScanDelivery reads a row of SQLDelivery or SQLDeliveries.
func ScanDelivery(row Scanner) (Delivery, error) {
	var d Delivery
	var state string
	var dur, created, updated int64
	err := row.Scan(&d.ID, &d.Hook, &d.Event, &d.Payload, &state, &d.Attempts, &d.Code, &dur, &d.Error, &created, &updated)
	d.State, d.Duration, d.CreatedAt, d.UpdatedAt = DeliveryState(state), time.Duration(dur), time.Unix(0, created), time.Unix(0, updated)
	return d, err
}
