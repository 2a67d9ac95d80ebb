package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

// Many hub processes (here goroutines) start uploads for one owner at
// once: serializable transactions that clash are run again, so each one
// succeeds, and the limit still holds.
func TestConcurrentUploads(t *testing.T) {
	ctx := context.Background()
	s := open(t, testutil.PostgresDB(t))
	defer s.Close()
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := meta.Upload{ID: fmt.Sprintf("u%d", i), Repo: "r", Owner: "127.0.0.1", StartedAt: now, UpdatedAt: now}
			errs <- s.CreateUpload(ctx, u, 24, now.Add(-time.Hour))
		}()
	}
	wg.Wait()
	close(errs)
	ok, limited := 0, 0
	for err := range errs {
		var le *meta.LimitError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &le):
			limited++
		default:
			t.Errorf("CreateUpload: %v", err)
		}
	}
	if ok != 24 || limited != 8 {
		t.Fatalf("%d uploads started and %d refused by the limit; want 24 and 8", ok, limited)
	}
}
