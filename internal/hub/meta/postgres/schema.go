package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/errdefs"
)

// migrations[i] takes the schema from version i to i+1. Append only: a
// released migration is never edited. Version 1 is meta/sqlite's versions
// 1 to 3 at once (PostgreSQL came after accounts and trust).
var migrations = []string{
	// 1: repositories, the hub-wide blob records (pending and deleting ones
	// are leases), links, manifests with what they refer to, tags; users
	// (with a generation from a counter that never repeats), their
	// credentials (stored as hashes; a sequence never gives an id twice),
	// collaborators, the hub's settings; the state nodes share: uploads,
	// job leases, rate limits, remembered sign-in addresses.
	`
CREATE TABLE repositories (
	id          BIGSERIAL PRIMARY KEY,
	name        TEXT COLLATE "C" NOT NULL UNIQUE,
	owner       TEXT COLLATE "C",                  -- NULL: no owner
	visibility  TEXT NOT NULL DEFAULT 'public',    -- 'public' or 'private'
	description TEXT NOT NULL DEFAULT '',
	namespace   TEXT COLLATE "C" NOT NULL DEFAULT '', -- what its quota is counted under
	created_at  BIGINT NOT NULL                    -- unix nanoseconds, like every *_at
);
CREATE INDEX repositories_by_owner ON repositories (owner);
CREATE INDEX repositories_by_namespace ON repositories (namespace);
CREATE TABLE blobs (
	digest     TEXT COLLATE "C" PRIMARY KEY,
	size       BIGINT NOT NULL,
	state       SMALLINT NOT NULL, -- meta.BlobState: 1 pending, 2 live, 3 deleting, 4 quarantined
	created_at  BIGINT NOT NULL,
	holder      TEXT NOT NULL DEFAULT '', -- the lease of a pending or deleting blob
	lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE links (
	repo_id    BIGINT NOT NULL,
	digest     TEXT COLLATE "C" NOT NULL,
	touched_at BIGINT NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX links_by_digest ON links (digest);
CREATE TABLE manifests (
	repo_id       BIGINT NOT NULL,
	digest        TEXT COLLATE "C" NOT NULL,
	media_type    TEXT NOT NULL,
	content       BYTEA NOT NULL,
	artifact_type TEXT NOT NULL DEFAULT '',
	annotations   TEXT,                 -- JSON object, or NULL
	subject       TEXT COLLATE "C",     -- digest, or NULL
	created_at    BIGINT NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repo_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_blobs (
	repo_id  BIGINT NOT NULL,
	manifest TEXT COLLATE "C" NOT NULL,
	blob     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (repo_id, manifest, blob)
);
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (repo_id, blob);
CREATE INDEX manifest_blobs_by_digest ON manifest_blobs (blob);
CREATE TABLE manifest_children (
	repo_id  BIGINT NOT NULL,
	manifest TEXT COLLATE "C" NOT NULL,
	child    TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (repo_id, manifest, child)
);
CREATE INDEX manifest_children_by_child ON manifest_children (repo_id, child);
CREATE TABLE tags (
	repo_id    BIGINT NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	digest     TEXT COLLATE "C" NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (repo_id, name)
);
CREATE INDEX tags_by_digest ON tags (repo_id, digest);
CREATE TABLE users (
	id                 BIGSERIAL PRIMARY KEY,
	name               TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash      TEXT NOT NULL,
	admin              BOOLEAN NOT NULL DEFAULT false,
	disabled           BOOLEAN NOT NULL DEFAULT false,
	default_visibility TEXT NOT NULL DEFAULT 'public',
	created_at         BIGINT NOT NULL,
	generation         BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE counters (
	name  TEXT COLLATE "C" PRIMARY KEY,
	value BIGINT NOT NULL
);
CREATE TABLE credentials (
	id           BIGSERIAL PRIMARY KEY,
	user_id      BIGINT NOT NULL,
	kind         TEXT NOT NULL, -- meta.CredentialKind
	name         TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL UNIQUE,
	scope        TEXT NOT NULL DEFAULT '',
	parent_id    BIGINT,        -- NULL: made with a password
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL DEFAULT 0, -- 0: never
	last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX credentials_by_user ON credentials (user_id, kind);
CREATE INDEX credentials_by_parent ON credentials (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE collaborators (
	repo_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	role    TEXT NOT NULL, -- meta.Role
	PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX collaborators_by_user ON collaborators (user_id);
CREATE TABLE settings (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE uploads (
	id          TEXT COLLATE "C" PRIMARY KEY,
	repo        TEXT COLLATE "C" NOT NULL,
	owner       TEXT COLLATE "C" NOT NULL,
	received    BIGINT NOT NULL DEFAULT 0,
	started_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	holder      TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX uploads_by_owner ON uploads (owner, updated_at);
CREATE INDEX uploads_by_updated ON uploads (updated_at);
CREATE TABLE leases (
	name        TEXT COLLATE "C" PRIMARY KEY,
	holder      TEXT NOT NULL,
	lease_until BIGINT NOT NULL
);
CREATE TABLE rate_limits (
	key TEXT COLLATE "C" PRIMARY KEY,
	tat BIGINT NOT NULL -- GCRA's theoretical arrival time, unix nanoseconds
);
CREATE INDEX rate_limits_by_tat ON rate_limits (tat);
CREATE TABLE known_addresses (
	username    TEXT COLLATE "C" NOT NULL,
	addr        TEXT COLLATE "C" NOT NULL,
	lease_until BIGINT NOT NULL,
	PRIMARY KEY (username, addr)
);
`,
	// 2: an upload's state beside its offset (the hash so far, where the
	// storage put the bytes), recorded together.
	`ALTER TABLE uploads ADD COLUMN state BYTEA;`,
	// 3: the hub's secrets, shared by its nodes: token signing keys (rows
	// only added and deleted) and named secrets, each set once.
	`
CREATE TABLE signing_keys (
	id         TEXT COLLATE "C" PRIMARY KEY,
	private    BYTEA NOT NULL, -- PKCS #8 DER
	created_at BIGINT NOT NULL,
	sign_from  BIGINT NOT NULL
);
CREATE TABLE secrets (
	name  TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);
`,
	// 4: discovery. A repository's overview (Markdown), its pull count and
	// last pull (recorded in batches, not per request).
	`
ALTER TABLE repositories ADD COLUMN overview TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN pulls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pulled_at BIGINT NOT NULL DEFAULT 0;
`,
	// 5: what each namespace stores, kept up to date by triggers as links
	// and blobs come and go, so that a quota check reads one row instead of
	// summing over every blob the namespace links: namespace_blobs is each
	// distinct blob a namespace links (how many links, and the size it
	// counts for: the blob's, 0 while it has no record), namespace_usage
	// their sum.
	`
CREATE TABLE namespace_blobs (
	namespace TEXT COLLATE "C" NOT NULL,
	digest    TEXT COLLATE "C" NOT NULL,
	links     BIGINT NOT NULL,
	size      BIGINT NOT NULL,
	PRIMARY KEY (namespace, digest)
);
CREATE INDEX namespace_blobs_by_digest ON namespace_blobs (digest);
CREATE TABLE namespace_usage (
	namespace TEXT COLLATE "C" PRIMARY KEY,
	used      BIGINT NOT NULL
);
INSERT INTO namespace_blobs (namespace, digest, links, size)
	SELECT r.namespace, l.digest, count(*), COALESCE(max(b.size), 0)
	FROM links l JOIN repositories r ON r.id = l.repo_id LEFT JOIN blobs b ON b.digest = l.digest
	GROUP BY r.namespace, l.digest;
INSERT INTO namespace_usage (namespace, used)
	SELECT namespace, sum(size) FROM namespace_blobs GROUP BY namespace;
CREATE FUNCTION strata_count_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ns TEXT;
	sz BIGINT;
	n  BIGINT;
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT namespace INTO ns FROM repositories WHERE id = NEW.repo_id;
		SELECT size INTO sz FROM blobs WHERE digest = NEW.digest;
		INSERT INTO namespace_blobs AS nb (namespace, digest, links, size) VALUES (ns, NEW.digest, 1, COALESCE(sz, 0))
			ON CONFLICT (namespace, digest) DO UPDATE SET links = nb.links + 1 RETURNING nb.links INTO n;
		IF n = 1 AND COALESCE(sz, 0) <> 0 THEN
			INSERT INTO namespace_usage AS u (namespace, used) VALUES (ns, sz)
				ON CONFLICT (namespace) DO UPDATE SET used = u.used + excluded.used;
		END IF;
	ELSE
		SELECT namespace INTO ns FROM repositories WHERE id = OLD.repo_id;
		UPDATE namespace_blobs SET links = links - 1 WHERE namespace = ns AND digest = OLD.digest
			RETURNING links, size INTO n, sz;
		IF n = 0 THEN
			DELETE FROM namespace_blobs WHERE namespace = ns AND digest = OLD.digest;
			IF sz <> 0 THEN
				UPDATE namespace_usage SET used = used - sz WHERE namespace = ns;
			END IF;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER links_counted AFTER INSERT OR DELETE ON links FOR EACH ROW EXECUTE FUNCTION strata_count_link();
CREATE FUNCTION strata_count_blob() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d  TEXT;
	sz BIGINT;
BEGIN
	IF TG_OP = 'DELETE' THEN
		d := OLD.digest;
		sz := 0;
	ELSE
		d := NEW.digest;
		sz := NEW.size;
	END IF;
	INSERT INTO namespace_usage AS u (namespace, used)
		SELECT nb.namespace, sz - nb.size FROM namespace_blobs nb WHERE nb.digest = d AND nb.size <> sz
		ON CONFLICT (namespace) DO UPDATE SET used = u.used + excluded.used;
	UPDATE namespace_blobs SET size = sz WHERE digest = d AND size <> sz;
	RETURN NULL;
END $$;
CREATE TRIGGER blobs_counted AFTER INSERT OR DELETE OR UPDATE OF size ON blobs FOR EACH ROW EXECUTE FUNCTION strata_count_blob();
`,
	// 6: the audit log: who did what, when, from where, to what.
	`
CREATE TABLE audit (
	id      BIGSERIAL PRIMARY KEY,
	at      BIGINT NOT NULL,
	actor   TEXT COLLATE "C" NOT NULL,
	action  TEXT COLLATE "C" NOT NULL,
	addr    TEXT NOT NULL,
	target  TEXT NOT NULL,
	details TEXT -- JSON object, or NULL
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_action ON audit (action, id);
`,
	// 7: webhooks on repositories and their delivery log.
	`
CREATE TABLE webhooks (
	id         BIGSERIAL PRIMARY KEY,
	repo_id    BIGINT NOT NULL,
	url        TEXT NOT NULL,
	secret     TEXT NOT NULL,
	events     TEXT NOT NULL, -- comma-separated
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_repo ON webhooks (repo_id);
CREATE TABLE webhook_deliveries (
	id          BIGSERIAL PRIMARY KEY,
	hook_id     BIGINT NOT NULL,
	event       TEXT NOT NULL,
	payload     BYTEA NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	code        INTEGER NOT NULL DEFAULT 0,
	duration_ns BIGINT NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (hook_id, id);
`,
	// 8: pending webhook deliveries by when they were last tried, for
	// resuming those whose sender is gone.
	`CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (updated_at) WHERE state = 'pending';`,
	// 9: tag rules (immutable patterns, retention) on repositories and
	// namespaces, and when each manifest was last pulled, for retention.
	`
CREATE TABLE tag_policies (
	scope          TEXT COLLATE "C" NOT NULL, -- 'repository' or 'namespace'
	name           TEXT COLLATE "C" NOT NULL,
	immutable      TEXT   NOT NULL DEFAULT '', -- tag patterns, one a line
	keep_last      BIGINT NOT NULL DEFAULT 0,
	keep_within_ns BIGINT NOT NULL DEFAULT 0,
	drop_untagged  BIGINT NOT NULL DEFAULT 0,
	updated_by     TEXT   NOT NULL DEFAULT '',
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (scope, name)
);
ALTER TABLE manifests ADD COLUMN pulled_at BIGINT NOT NULL DEFAULT 0;
`,
	// 10: organizations: their members (owner or member), teams, what
	// teams are granted on repositories, and organization access tokens.
	`
CREATE TABLE orgs (
	id                 BIGSERIAL PRIMARY KEY,
	name               TEXT COLLATE "C" NOT NULL UNIQUE,
	default_visibility TEXT    NOT NULL DEFAULT 'private',
	created_by         TEXT    NOT NULL,
	created_at         BIGINT NOT NULL
);
CREATE TABLE org_members (
	org_id  BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	role    TEXT    NOT NULL, -- meta.OrgRole
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_by_user ON org_members (user_id);
CREATE TABLE teams (
	id          BIGSERIAL PRIMARY KEY,
	org_id      BIGINT NOT NULL,
	name        TEXT COLLATE "C" NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	UNIQUE (org_id, name)
);
CREATE TABLE team_members (
	team_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);
CREATE TABLE team_repos (
	team_id BIGINT NOT NULL,
	repo_id BIGINT NOT NULL,
	role    TEXT    NOT NULL, -- meta.Role
	PRIMARY KEY (team_id, repo_id)
);
CREATE INDEX team_repos_by_repo ON team_repos (repo_id);
CREATE TABLE org_tokens (
	id           BIGSERIAL PRIMARY KEY,
	org_id       BIGINT NOT NULL,
	name         TEXT    NOT NULL,
	hash         TEXT    NOT NULL UNIQUE,
	scope        TEXT    NOT NULL,
	created_by   TEXT    NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL DEFAULT 0,
	last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX org_tokens_by_org ON org_tokens (org_id);
`,
	// 11: webhooks of organizations (org_id; repo_id 0), which hear every
	// repository of the organization's namespace.
	`
ALTER TABLE webhooks ADD COLUMN org_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX webhooks_by_org ON webhooks (org_id) WHERE org_id <> 0;
`,
}

// SchemaVersion is the version this build writes.
var SchemaVersion = len(migrations)

// migrateLock is the advisory lock nodes take turns on while migrating.
const migrateLock = 0x5354524154410001 // "STRATA" 1

// migrate brings the schema to SchemaVersion, refusing a newer database.
func (s *Store) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v)
		if noRows(err) {
			_, err = tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`)
		}
		if err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this strata knows (%d): upgrade strata: %w",
				v, len(migrations), errdefs.ErrConflict)
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations))
		return err
	})
	return classify(err)
}
