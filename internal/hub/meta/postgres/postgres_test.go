package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/metatest"
	"github.com/strata-dev/strata/internal/hub/meta/postgres"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopEngines()
	os.Exit(code)
}

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return open(t, testutil.PostgresDB(t)) })
}

// The schema version is recorded; reopening migrates nothing twice, and a
// database from a newer strata is refused rather than misread.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	url := testutil.PostgresDB(t)
	for range 2 {
		open(t, url).Close()
	}
	s := open(t, url)
	defer s.Close()
	raw := testutil.PostgresConn(t, url)
	var v int
	if err := raw.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != postgres.SchemaVersion {
		t.Fatalf("schema version %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	if _, err := raw.Exec(ctx, `UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, url); !errdefs.IsConflict(err) {
		t.Fatalf("opening a newer schema: %v", err)
	}
}
