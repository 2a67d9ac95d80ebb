package engines_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/testutil"
	"github.com/strata-dev/strata/internal/testutil/engines"
)

func skipMissing(t *testing.T, err error) {
	var m *engines.Missing
	if errors.As(err, &m) {
		t.Skip(m.What)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A private PostgreSQL answers, gives each caller a database of its own,
// and comes back on the same port with its data after a stop.
func TestPostgres(t *testing.T) {
	ctx := context.Background()
	pg, err := engines.StartPostgres(engines.PostgresOptions{})
	skipMissing(t, err)
	defer pg.Remove()
	url, err := pg.NewDatabase(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	query := func(q string) error {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, q)
		return err
	}
	if err := query(`CREATE TABLE t (x int); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := query(`SELECT 1`); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if err := query(`SELECT x FROM t`); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

// A private SeaweedFS answers S3, makes buckets, and keeps objects across a restart.
func TestSeaweedFS(t *testing.T) {
	ctx := context.Background()
	w, err := engines.StartSeaweedFS(testutil.ModuleRoot())
	skipMissing(t, err)
	defer w.Remove()
	b, err := w.NewBucket(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	c := w.Client()
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b}); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b}); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}
