package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

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
	if err := s.CreateUser(ctx, meta.User{Name: "alice", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if repos, _, err := s.ListRepositories(ctx, meta.RepoFilter{Viewer: "bob"}, meta.Page{N: -1}); err != nil || len(repos) != 1 {
		t.Fatalf("listing after migrating: %v, %v", repos, err)
	}
}
