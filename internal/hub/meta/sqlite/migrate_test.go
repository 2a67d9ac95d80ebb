package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// A database from before accounts (schema 1) migrates with its data: its
// repositories stay public with no owner, and accounts can be added.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO repositories (name, visibility, created_at) VALUES ('alice/old', 'public', 1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Repository(ctx, "alice/old")
	if err != nil || r.Owner != "" || r.Visibility != meta.Public || r.Description != "" {
		t.Fatalf("after migrating: %+v, %v", r, err)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "alice", PasswordHash: "h"}, false); err != nil {
		t.Fatal(err)
	}
	if repos, _, err := s.ListRepositories(ctx, meta.RepoFilter{Viewer: "bob"}, meta.Page{N: -1}); err != nil || len(repos) != 1 {
		t.Fatalf("listing after migrating: %v, %v", repos, err)
	}
}

// A database of schema 2 migrates to 3: an index's children are found in
// the manifests already stored, repositories get their namespace, users a
// generation each, credential ids carry on without reuse, and a pending
// blob left by the old hub is a lapsed lease any writer takes over.
func TestMigrateFromVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	child, index := digest.FromString("child"), digest.FromString("index")
	indexJSON := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"` + child.String() + `","size":5}]}`
	for _, q := range []string{migrations[0], migrations[1], `PRAGMA user_version = 2`,
		`INSERT INTO repositories (id, name, owner, visibility, created_at) VALUES (1, 'alice/app', 'alice', 'public', 1)`,
		`INSERT INTO manifests (repo_id, digest, media_type, content, created_at) VALUES
			(1, '` + child.String() + `', 'application/vnd.oci.image.manifest.v1+json', CAST('{}' AS BLOB), 1),
			(1, '` + index.String() + `', 'application/vnd.oci.image.index.v1+json', CAST('` + indexJSON + `' AS BLOB), 1)`,
		`INSERT INTO users (id, name, password_hash, created_at) VALUES (1, 'alice', 'h', 1), (2, 'bob', 'h', 1)`,
		`INSERT INTO credentials (id, user_id, kind, hash, created_at) VALUES (5, 1, 'token', 'h5', 1)`,
		`INSERT INTO blobs (digest, size, state, created_at) VALUES ('` + digest.FromString("pending").String() + `', 3, 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var inUse *meta.InUseError
	if err := s.DeleteManifest(ctx, "alice/app", child, false); !errors.As(err, &inUse) || inUse.Index != index {
		t.Fatalf("deleting an old index's child: %v", err)
	}
	alice, _ := s.User(ctx, "alice")
	bob, _ := s.User(ctx, "bob")
	if alice.Generation == 0 || alice.Generation == bob.Generation {
		t.Fatalf("generations %d and %d", alice.Generation, bob.Generation)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "carol", PasswordHash: "h"}, false); err != nil {
		t.Fatal(err)
	}
	if carol, _ := s.User(ctx, "carol"); carol.Generation <= max(alice.Generation, bob.Generation) {
		t.Fatalf("carol's generation %d repeats an old one", carol.Generation)
	}
	if id, err := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindToken, Hash: "h6"}); err != nil || id <= 5 {
		t.Fatalf("a new credential's id = %d, %v", id, err)
	}
	now := time.Now()
	if st, err := s.LinkOrReserve(ctx, "alice/app", digest.FromString("pending"), 3, now, meta.Lease{Holder: "w", Until: now.Add(time.Minute)}, 0); err != nil || st != meta.BlobAbsent {
		t.Fatalf("reserving an old pending blob = %v, %v", st, err)
	}
	if r, err := s.Repository(ctx, "alice/app"); err != nil || r.Owner != "alice" {
		t.Fatalf("the repository: %+v, %v", r, err)
	}
	live := digest.FromString("live")
	s.LinkOrReserve(ctx, "alice/app", live, 7, now, meta.Lease{Holder: "w", Until: now.Add(time.Minute)}, 0)
	s.PublishBlob(ctx, "alice/app", live, "w", "", now, 0)
	if used, err := s.NamespaceUsage(ctx, "alice"); err != nil || used != 7 {
		t.Fatalf("alice's usage after migrating = %d, %v", used, err)
	}
}
