package testutil

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

// The engines a test package shares: one PostgreSQL and one SeaweedFS per
// test binary, started by the first test that asks, each test getting a
// database or bucket of its own. They die with the test binary; a package's
// TestMain may call StopEngines to stop them and remove their directories.
var shared struct {
	mu     sync.Mutex
	pg     *engines.Postgres
	pgErr  error
	weed   *engines.SeaweedFS
	weedEr error
}

// StopEngines stops the shared engines and removes their directories.
func StopEngines() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg != nil {
		shared.pg.Remove()
	}
	if shared.weed != nil {
		shared.weed.Remove()
	}
	shared.pg, shared.weed, shared.pgErr, shared.weedEr = nil, nil, nil, nil
}

// engineFailed skips a test for an engine that is not installed, and fails it otherwise.
func engineFailed(t testing.TB, err error) {
	t.Helper()
	var missing *engines.Missing
	if errors.As(err, &missing) {
		t.Skip(missing.What)
	}
	t.Fatal(err)
}

// PostgresServer returns the package's shared PostgreSQL server.
func PostgresServer(t testing.TB) *engines.Postgres {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg == nil && shared.pgErr == nil {
		shared.pg, shared.pgErr = engines.StartPostgres(engines.PostgresOptions{})
	}
	if shared.pgErr != nil {
		engineFailed(t, shared.pgErr)
	}
	return shared.pg
}

// PostgresDB returns the URL of a new, empty database for this test.
func PostgresDB(t testing.TB) string {
	t.Helper()
	url, err := PostgresServer(t).NewDatabase(context.Background(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// PostgresConn is a plain connection to a database, closed when the test ends.
func PostgresConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// SeaweedFSServer returns the package's shared SeaweedFS.
func SeaweedFSServer(t testing.TB) *engines.SeaweedFS {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.weed == nil && shared.weedEr == nil {
		shared.weed, shared.weedEr = engines.StartSeaweedFS(ModuleRoot())
	}
	if shared.weedEr != nil {
		engineFailed(t, shared.weedEr)
	}
	return shared.weed
}

// S3Bucket returns a new, empty bucket for this test on the shared SeaweedFS.
func S3Bucket(t testing.TB) (*engines.SeaweedFS, string) {
	t.Helper()
	w := SeaweedFSServer(t)
	b, err := w.NewBucket(context.Background(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return w, b
}

// PrivatePostgres starts a PostgreSQL of this test's own (to stop and
// start in a fault test), removed when the test ends.
func PrivatePostgres(t testing.TB) *engines.Postgres {
	t.Helper()
	pg, err := engines.StartPostgres(engines.PostgresOptions{})
	if err != nil {
		engineFailed(t, err)
	}
	t.Cleanup(pg.Remove)
	return pg
}

// PrivateSeaweedFS starts a SeaweedFS of this test's own, removed when the test ends.
func PrivateSeaweedFS(t testing.TB) *engines.SeaweedFS {
	t.Helper()
	w, err := engines.StartSeaweedFS(ModuleRoot())
	if err != nil {
		engineFailed(t, err)
	}
	t.Cleanup(w.Remove)
	return w
}
