package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/strata-dev/strata/internal/errdefs"
)

// migrations[i] takes the schema from version i to i+1. Append only: a
// released migration is never edited.
var migrations = []string{
	// 1: repositories (owner and visibility ready for accounts), the
	// hub-wide blob records, links, manifests with what they refer to, tags.
	`
CREATE TABLE repositories (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	owner      TEXT,                              -- NULL: no owner
	visibility TEXT    NOT NULL DEFAULT 'public', -- 'public' or 'private'
	created_at INTEGER NOT NULL                   -- unix nanoseconds, like every *_at
);
CREATE TABLE blobs (
	digest     TEXT    PRIMARY KEY,
	size       INTEGER NOT NULL,
	state      INTEGER NOT NULL, -- meta.BlobState: 1 pending, 2 live, 3 deleting
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE links (
	repo_id    INTEGER NOT NULL,
	digest     TEXT    NOT NULL,
	touched_at INTEGER NOT NULL,
	PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;
CREATE INDEX links_by_digest ON links (digest);
CREATE TABLE manifests (
	repo_id       INTEGER NOT NULL,
	digest        TEXT    NOT NULL,
	media_type    TEXT    NOT NULL,
	content       BLOB    NOT NULL,
	artifact_type TEXT    NOT NULL DEFAULT '',
	annotations   TEXT,    -- JSON object, or NULL
	subject       TEXT,    -- digest, or NULL
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repo_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_blobs (
	repo_id  INTEGER NOT NULL,
	manifest TEXT    NOT NULL,
	blob     TEXT    NOT NULL,
	PRIMARY KEY (repo_id, manifest, blob)
) WITHOUT ROWID;
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (repo_id, blob);
CREATE TABLE tags (
	repo_id    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	digest     TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;
CREATE INDEX tags_by_digest ON tags (repo_id, digest);
`,
	// 2: accounts. Users; their credentials (access tokens, web sessions,
	// refresh tokens), stored as hashes; collaborators on repositories;
	// repository descriptions; the hub's settings.
	`
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
CREATE INDEX repositories_by_owner ON repositories (owner);
CREATE TABLE users (
	id                 INTEGER PRIMARY KEY,
	name               TEXT    NOT NULL UNIQUE,
	password_hash      TEXT    NOT NULL,
	admin              INTEGER NOT NULL DEFAULT 0,
	disabled           INTEGER NOT NULL DEFAULT 0,
	default_visibility TEXT    NOT NULL DEFAULT 'public',
	created_at         INTEGER NOT NULL
);
CREATE TABLE credentials (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL,
	kind         TEXT    NOT NULL, -- meta.CredentialKind
	name         TEXT    NOT NULL DEFAULT '',
	hash         TEXT    NOT NULL UNIQUE,
	scope        TEXT    NOT NULL DEFAULT '',
	parent_id    INTEGER,          -- NULL: made with a password
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0, -- 0: never
	last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX credentials_by_user ON credentials (user_id, kind);
CREATE INDEX credentials_by_parent ON credentials (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE collaborators (
	repo_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	role    TEXT    NOT NULL, -- meta.Role
	PRIMARY KEY (repo_id, user_id)
) WITHOUT ROWID;
CREATE INDEX collaborators_by_user ON collaborators (user_id);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`,
	// 3: trust. Pending and deleting blobs are leases (holder, lease_until;
	// state 4 is quarantined); repositories know their quota namespace; an
	// index's children are recorded so that none is deleted under it;
	// users carry a generation from a counter that never repeats;
	// credential ids are never reused (AUTOINCREMENT); uploads, job leases,
	// rate limits and remembered sign-in addresses are shared state.
	`
ALTER TABLE blobs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
UPDATE repositories SET namespace = CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END;
CREATE INDEX repositories_by_namespace ON repositories (namespace);
CREATE TABLE manifest_children (
	repo_id  INTEGER NOT NULL,
	manifest TEXT    NOT NULL,
	child    TEXT    NOT NULL,
	PRIMARY KEY (repo_id, manifest, child)
) WITHOUT ROWID;
CREATE INDEX manifest_children_by_child ON manifest_children (repo_id, child);
INSERT OR IGNORE INTO manifest_children (repo_id, manifest, child)
	SELECT m.repo_id, m.digest, json_extract(c.value, '$.digest')
	FROM manifests m, json_each(CAST(m.content AS TEXT), '$.manifests') c
	WHERE json_valid(CAST(m.content AS TEXT)) AND json_type(CAST(m.content AS TEXT), '$.manifests') = 'array'
	AND json_type(c.value, '$.digest') = 'text';
CREATE TABLE counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
UPDATE users SET generation = id;
INSERT INTO counters (name, value) VALUES ('generation', (SELECT COALESCE(max(id), 0) FROM users));
CREATE TABLE credentials_v3 (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id      INTEGER NOT NULL,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL DEFAULT '',
	hash         TEXT    NOT NULL UNIQUE,
	scope        TEXT    NOT NULL DEFAULT '',
	parent_id    INTEGER,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	last_used_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO credentials_v3 SELECT id, user_id, kind, name, hash, scope, parent_id, created_at, expires_at, last_used_at FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v3 RENAME TO credentials;
CREATE INDEX credentials_by_user ON credentials (user_id, kind);
CREATE INDEX credentials_by_parent ON credentials (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE uploads (
	id          TEXT    PRIMARY KEY,
	repo        TEXT    NOT NULL,
	owner       TEXT    NOT NULL,
	received    INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	holder      TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX uploads_by_owner ON uploads (owner, updated_at);
CREATE INDEX uploads_by_updated ON uploads (updated_at);
CREATE TABLE leases (
	name        TEXT    PRIMARY KEY,
	holder      TEXT    NOT NULL,
	lease_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE rate_limits (
	key TEXT    PRIMARY KEY,
	tat INTEGER NOT NULL -- GCRA's theoretical arrival time, unix nanoseconds
) WITHOUT ROWID;
CREATE INDEX rate_limits_by_tat ON rate_limits (tat);
CREATE TABLE known_addresses (
	user        TEXT    NOT NULL,
	addr        TEXT    NOT NULL,
	lease_until INTEGER NOT NULL,
	PRIMARY KEY (user, addr)
) WITHOUT ROWID;
`,
	// 4: an upload's state beside its offset (the hash so far, where the
	// storage put the bytes), recorded together.
	`ALTER TABLE uploads ADD COLUMN state BLOB;`,
	// 5: the hub's secrets, shared by its nodes: token signing keys (rows
	// only added and deleted) and named secrets, each set once.
	`
CREATE TABLE signing_keys (
	id         TEXT    PRIMARY KEY,
	private    BLOB    NOT NULL, -- PKCS #8 DER
	created_at INTEGER NOT NULL,
	sign_from  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`,
	// 6: discovery. A repository's overview (Markdown), its pull count and
	// last pull (recorded in batches, not per request).
	`
ALTER TABLE repositories ADD COLUMN overview TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pulled_at INTEGER NOT NULL DEFAULT 0;
`,
	// 7: the audit log: who did what, when, from where, to what.
	`
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	action  TEXT    NOT NULL,
	addr    TEXT    NOT NULL,
	target  TEXT    NOT NULL,
	details TEXT    -- JSON object, or NULL
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_action ON audit (action, id);
`,
	// 8: webhooks on repositories and their delivery log.
	`
CREATE TABLE webhooks (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	repo_id    INTEGER NOT NULL,
	url        TEXT    NOT NULL,
	secret     TEXT    NOT NULL,
	events     TEXT    NOT NULL, -- comma-separated
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_repo ON webhooks (repo_id);
CREATE TABLE webhook_deliveries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	hook_id     INTEGER NOT NULL,
	event       TEXT    NOT NULL,
	payload     BLOB    NOT NULL,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	code        INTEGER NOT NULL DEFAULT 0,
	duration_ns INTEGER NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (hook_id, id);
`,
	// 9: pending webhook deliveries by when they were last tried, for
	// resuming those whose sender is gone.
	`CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (updated_at) WHERE state = 'pending';`,
	// 10: tag rules (immutable patterns, retention) on repositories and
	// namespaces, and when each manifest was last pulled, for retention.
	`
CREATE TABLE tag_policies (
	scope          TEXT    NOT NULL, -- 'repository' or 'namespace'
	name           TEXT    NOT NULL,
	immutable      TEXT    NOT NULL DEFAULT '', -- tag patterns, one a line
	keep_last      INTEGER NOT NULL DEFAULT 0,
	keep_within_ns INTEGER NOT NULL DEFAULT 0,
	drop_untagged  INTEGER NOT NULL DEFAULT 0,
	updated_by     TEXT    NOT NULL DEFAULT '',
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (scope, name)
);
ALTER TABLE manifests ADD COLUMN pulled_at INTEGER NOT NULL DEFAULT 0;
`,
	// 11: organizations: their members (owner or member), teams, what
	// teams are granted on repositories, and organization access tokens.
	`
CREATE TABLE orgs (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	name               TEXT    NOT NULL UNIQUE,
	default_visibility TEXT    NOT NULL DEFAULT 'private',
	created_by         TEXT    NOT NULL,
	created_at         INTEGER NOT NULL
);
CREATE TABLE org_members (
	org_id  INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	role    TEXT    NOT NULL, -- meta.OrgRole
	PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX org_members_by_user ON org_members (user_id);
CREATE TABLE teams (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id      INTEGER NOT NULL,
	name        TEXT    NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	UNIQUE (org_id, name)
);
CREATE TABLE team_members (
	team_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_by_user ON team_members (user_id);
CREATE TABLE team_repos (
	team_id INTEGER NOT NULL,
	repo_id INTEGER NOT NULL,
	role    TEXT    NOT NULL, -- meta.Role
	PRIMARY KEY (team_id, repo_id)
) WITHOUT ROWID;
CREATE INDEX team_repos_by_repo ON team_repos (repo_id);
CREATE TABLE org_tokens (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id       INTEGER NOT NULL,
	name         TEXT    NOT NULL,
	hash         TEXT    NOT NULL UNIQUE,
	scope        TEXT    NOT NULL,
	created_by   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX org_tokens_by_org ON org_tokens (org_id);
`,
	// 12: webhooks of organizations (org_id; repo_id 0), which hear every
	// repository of the organization's namespace.
	`
ALTER TABLE webhooks ADD COLUMN org_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhooks_by_org ON webhooks (org_id) WHERE org_id <> 0;
`,
}

// SchemaVersion is the version this build writes.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion, refusing a newer database.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this strata knows (%d): upgrade strata: %w",
				v, len(migrations), errdefs.ErrConflict)
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations)))
		return err
	})
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrNotFound)
}
