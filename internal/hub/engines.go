package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/postgres"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
	"github.com/strata-dev/strata/internal/hub/storage/s3"
)

// OpenStorage opens where blobs go: an s3:// URL (see s3.ParseURL), or,
// when storage is "", the filesystem under dataDir/content.
func OpenStorage(ctx context.Context, storageURL, dataDir string) (storage.Driver, error) {
	switch {
	case storageURL == "":
		return filesystem.New(filepath.Join(dataDir, "content"))
	case strings.HasPrefix(storageURL, "s3://"):
		opts, err := s3.ParseURL(storageURL)
		if err != nil {
			return nil, err
		}
		return s3.New(ctx, opts)
	}
	return nil, fmt.Errorf("storage %q: want s3://BUCKET/PREFIX?endpoint=URL&region=REGION, or nothing for the data directory: %w",
		storageURL, errdefs.ErrInvalidArgument)
}

// OpenMeta opens where metadata goes: a postgres:// URL, or, when
// database is "", SQLite in dataDir/meta.db (readable by its owner only:
// it holds password hashes).
func OpenMeta(ctx context.Context, database, dataDir string) (meta.Store, error) {
	return openMeta(ctx, database, dataDir, nil)
}

// openMeta is OpenMeta with PostgreSQL's statements traced (metrics).
func openMeta(ctx context.Context, database, dataDir string, tracer pgx.QueryTracer) (meta.Store, error) {
	switch {
	case database == "":
		m, err := sqlite.Open(ctx, filepath.Join(dataDir, "meta.db"))
		if err != nil {
			return nil, err
		}
		for _, f := range []string{"meta.db", "meta.db-wal", "meta.db-shm"} {
			if err := os.Chmod(filepath.Join(dataDir, f), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
				m.Close()
				return nil, fmt.Errorf("hub metadata: %w", err)
			}
		}
		return m, nil
	case strings.HasPrefix(database, "postgres://"), strings.HasPrefix(database, "postgresql://"):
		return postgres.OpenWith(ctx, database, postgres.Options{Tracer: tracer})
	}
	return nil, fmt.Errorf("database: want postgres://USER@HOST/DB, or nothing for SQLite in the data directory: %w",
		errdefs.ErrInvalidArgument)
}
