package testutil

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/hub"
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

// OnEngines returns cfg with blobs in a new bucket of the shared SeaweedFS
// and metadata in a new database of the shared PostgreSQL, the store's
// credentials in the standard AWS environment (the same for every test).
func OnEngines(t testing.TB, cfg hub.Config) hub.Config {
	t.Helper()
	w, bucket := S3Bucket(t)
	cfg.Database = PostgresDB(t)
	cfg.Storage = w.URL(bucket, "hub")
	setEnv(w)
	return cfg
}

// HubEngine is one way to run a hub: its name and what it sets in a Config.
type HubEngine struct {
	Name  string
	Setup func(testing.TB, hub.Config) hub.Config
}

// HubEngines are the ways tests run the hub on: the embedded default
// (filesystem and SQLite) and the engines (S3 and PostgreSQL).
var HubEngines = []HubEngine{
	{"embedded", func(_ testing.TB, cfg hub.Config) hub.Config { return cfg }},
	{"s3+postgres", OnEngines},
}

// ForEachEngine runs fn as a subtest for each of HubEngines, with cfg set up for it.
func ForEachEngine(t *testing.T, cfg hub.Config, fn func(t *testing.T, cfg hub.Config)) {
	for _, e := range HubEngines {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Setup(t, cfg)) })
	}
}

// OnPrivateEngines is OnEngines on a PostgreSQL and a SeaweedFS of this
// test's own, returned so that the test can stop and start them.
func OnPrivateEngines(t testing.TB, cfg hub.Config) (hub.Config, *engines.Postgres, *engines.SeaweedFS) {
	t.Helper()
	pg, w := PrivatePostgres(t), PrivateSeaweedFS(t)
	ctx := context.Background()
	db, err := pg.NewDatabase(ctx, "hub")
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := w.NewBucket(ctx, "hub")
	if err != nil {
		t.Fatal(err)
	}
	setEnv(w)
	cfg.Database, cfg.Storage = db, w.URL(bucket, "hub")
	return cfg, pg, w
}

// setEnv puts w's credentials in the standard AWS environment, where the
// hub reads them (every SeaweedFS here has the same).
func setEnv(w *engines.SeaweedFS) {
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
}
