// Package store is strata's local image store: blobs in a content store
// (package content/local), and what they mean in one SQLite database.
//
// Layout under the store's root:
//
//	content/       the content store: every manifest, config and layer blob, once
//	strata.db      SQLite (WAL): images, tags, repo digests, manifests, layers
//	open.lock      flock: held while a process opens the database and migrates it
//	gc.lock        flock: shared while a process adds blobs and the images that
//	               use them, exclusive while garbage is collected, so GC never
//	               takes a blob that another process is about to reference
//
// Identities: an image's ID is its config digest, as in Docker. A layer is
// keyed by its diffID (the digest of its uncompressed tar); several blobs
// (gzip, zstd, uncompressed) may carry the same diffID, and layer_blobs keeps
// that map. image_layers records each image's stack with its chainIDs, where
// snapshots will hang. A blob is kept while a manifest of a stored image
// references it; GC removes the rest.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite", pure Go

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/content/local"
)

// Store is an open local image store. It is safe for concurrent use by
// goroutines and by other processes that open the same root.
type Store struct {
	root    string
	db      *sql.DB
	content *local.Store
	// InUse reports who uses an image (containers, by name) so that Remove and
	// Prune leave it alone unless forced. Nil means nothing uses images.
	InUse func(ctx context.Context, id digest.Digest) ([]string, error)
	// Mounted, when set, says where an image is mounted (strata image
	// mount), "" when it is not: Remove and Prune refuse a mounted image,
	// even when forced.
	Mounted func(ctx context.Context, id digest.Digest) (string, error)
	// Unpack, when set, unpacks each image that Add records into snapshots,
	// so that imported, loaded and pulled images are ready to run.
	Unpack func(ctx context.Context, img Image) error
	// Collected, when set, runs at the end of GC to remove the unpacked
	// layers that no image needs any more; it returns the bytes it freed.
	Collected func(ctx context.Context) (int64, error)
}

// Open opens the store in root, creating it and bringing its schema up to
// date when needed. The store is its owner's alone: root is made mode 0700
// (a store an older strata made 0711 is tightened), and the database, which
// holds containers' settings (`run -e` values among them), 0600.
func Open(ctx context.Context, root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create store %s: %w", root, err)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, fmt.Errorf("store %s: make it private: %w", root, err)
	}
	cs, err := local.New(filepath.Join(root, "content"))
	if err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	// Turning a new database to WAL needs it to itself, and SQLite answers
	// "busy" at once rather than wait; so processes (and goroutines) opening
	// the store take turns until its schema is in place.
	l, err := local.LockFile(filepath.Join(root, "open.lock"), true, true)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	defer l.Unlock()
	dsn := "file:" + filepath.Join(root, "strata.db") +
		"?_busy_timeout=30000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, db: db, content: cs}
	s.InUse = s.ContainersUsing // containers.go: an image a container uses is kept
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	for _, f := range []string{"strata.db", "strata.db-wal", "strata.db-shm"} {
		if err := os.Chmod(filepath.Join(root, f), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("store %s: make %s private: %w", root, f, err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Content is the store's blobs.
func (s *Store) Content() content.Store { return s.content }

// BlobPath is the file holding a stored blob.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) { return s.content.BlobPath(dgst) }

// lock takes the GC lock: shared for adding, exclusive for collecting.
func (s *Store) lock(exclusive bool) (*local.FileLock, error) {
	return local.LockFile(filepath.Join(s.root, "gc.lock"), exclusive, true)
}

// Writing holds off garbage collection (in every process) until release is
// called: take it before writing blobs that an image added later will use.
func (s *Store) Writing() (release func(), err error) {
	l, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE, so writers queue on
// the busy timeout rather than fail midway), committing when fn succeeds.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readTx runs fn in a read transaction: one consistent snapshot.
func (s *Store) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// migrations bring the schema from version i to i+1; PRAGMA user_version
// holds the version. Append, never edit: stores in the field have run them.
var migrations = []string{
	`CREATE TABLE images (
		id            TEXT PRIMARY KEY,  -- config digest
		manifest      TEXT NOT NULL,     -- the manifest it is kept and saved with
		created       INTEGER NOT NULL,  -- config "created", unix nanoseconds, 0 if none
		added         INTEGER NOT NULL,  -- when it came into this store
		last_tag_time INTEGER NOT NULL DEFAULT 0,
		size          INTEGER NOT NULL,  -- unpacked size of its layers, as Docker counts it
		labels        TEXT NOT NULL DEFAULT '{}'
	);
	CREATE TABLE manifests (
		digest     TEXT PRIMARY KEY,
		media_type TEXT NOT NULL,
		size       INTEGER NOT NULL,
		image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
	);
	CREATE INDEX manifests_image ON manifests(image_id);
	CREATE TABLE manifest_blobs (  -- what each manifest references: config and layers
		manifest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
		blob     TEXT NOT NULL,
		PRIMARY KEY (manifest, blob)
	);
	CREATE INDEX manifest_blobs_blob ON manifest_blobs(blob);
	CREATE TABLE tags (
		name     TEXT PRIMARY KEY,  -- docker.io/library/busybox:latest
		repo     TEXT NOT NULL,     -- docker.io/library/busybox
		image_id TEXT NOT NULL REFERENCES images(id)
	);
	CREATE INDEX tags_image ON tags(image_id);
	CREATE TABLE repo_digests (
		repo     TEXT NOT NULL,
		digest   TEXT NOT NULL,     -- a manifest digest
		image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
		PRIMARY KEY (repo, digest)
	);
	CREATE INDEX repo_digests_image ON repo_digests(image_id);
	CREATE TABLE layers (
		diff_id       TEXT PRIMARY KEY,
		tar_size      INTEGER NOT NULL,  -- bytes of the uncompressed tar
		unpacked_size INTEGER NOT NULL   -- bytes of its files, as Docker's Size counts them
	);
	CREATE TABLE layer_blobs (  -- the blobs that carry a layer, in any compression
		blob       TEXT PRIMARY KEY,
		diff_id    TEXT NOT NULL REFERENCES layers(diff_id),
		media_type TEXT NOT NULL,
		size       INTEGER NOT NULL
	);
	CREATE INDEX layer_blobs_diff ON layer_blobs(diff_id);
	CREATE TABLE image_layers (
		image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
		idx      INTEGER NOT NULL,
		diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
		chain_id TEXT NOT NULL,
		PRIMARY KEY (image_id, idx)
	);
	CREATE INDEX image_layers_chain ON image_layers(chain_id);`,
	containersSchema,  // containers.go: containers (issue 6)
	buildCacheSchema,  // buildcache.go: the build cache (issue 7)
	blobSourcesSchema, // sources.go: where blobs are on registries, for cross-repo mounts
	parentSchema,      // parent.go: the image an image was made from
}

// SchemaVersion is the schema this build of strata writes.
var SchemaVersion = len(migrations)

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v == SchemaVersion {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Read again under the write lock: another process may have migrated.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > SchemaVersion {
			return errors.New("the store was written by a newer strata (schema " + fmt.Sprint(v) + "): upgrade strata")
		}
		for ; v < SchemaVersion; v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion))
		return err
	})
}
