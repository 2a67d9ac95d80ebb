package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/metatest"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The schema version is recorded; reopening migrates nothing twice, and a
// database from a newer strata is refused rather than misread.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	for range 2 {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	db, _ := sql.Open("sqlite", path)
	var v int
	db.QueryRow(`PRAGMA user_version`).Scan(&v)
	var mode string
	db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if v != sqlite.SchemaVersion || mode != "wal" {
		t.Fatalf("user_version %d (want %d), journal_mode %s", v, sqlite.SchemaVersion, mode)
	}
	db.Exec(`PRAGMA user_version = 999`)
	db.Close()
	if _, err := sqlite.Open(ctx, path); !errdefs.IsConflict(err) {
		t.Fatalf("opening a newer schema: %v", err)
	}
}
