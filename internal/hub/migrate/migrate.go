// Package migrate moves a single-node hub's content (its data directory:
// blobs on the filesystem, metadata in SQLite) onto the engines of a hub
// past one machine: every live blob into another storage.Driver, re-hashed
// on the way and refused if it does not match its digest, then every
// metadata row into an empty PostgreSQL database, with ids kept.
//
// The metadata is read in one SQLite read transaction, so it is one
// consistent moment of a hub that may still be serving; blobs pushed after
// that moment are not moved, so stop pushes (or the hub) for the run that
// counts. Blobs already in the destination with the right size are not
// copied again, so an interrupted run can be started over; the database
// must be empty.
package migrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta/postgres"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
)

// Report says what a run moved.
type Report struct {
	Blobs     int   // blobs copied
	Bytes     int64 // their size
	Present   int   // blobs the destination already had
	Rows      int   // metadata rows written
	Corrupted []digest.Digest
}

// Progress is told of each blob as it is done (nil: nothing told).
type Progress func(done, total int, d digest.Digest, size int64)

// Run moves the hub in dataDir to blobs in dst and metadata in the
// PostgreSQL database at dbURL.
func Run(ctx context.Context, dataDir string, dst storage.Driver, dbURL string, progress Progress) (Report, error) {
	var r Report
	path := filepath.Join(dataDir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		return r, fmt.Errorf("no hub in %s: %w", dataDir, err)
	}
	src, err := filesystem.New(filepath.Join(dataDir, "content"))
	if err != nil {
		return r, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return r, err
	}
	defer db.Close()
	snap, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return r, fmt.Errorf("read %s: %w", path, err)
	}
	defer snap.Rollback()
	// Open (and so create the schema of) the destination before copying
	// anything, so that a wrong URL or a non-empty database fails at once.
	store, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return r, err
	}
	store.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return r, fmt.Errorf("database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkEmpty(ctx, conn); err != nil {
		return r, err
	}
	if err := copyBlobs(ctx, snap, src, dst, &r, progress); err != nil {
		return r, err
	}
	r.Rows, err = copyRows(ctx, snap, conn)
	return r, err
}

// checkEmpty refuses a database that already holds a hub.
func checkEmpty(ctx context.Context, conn *pgx.Conn) error {
	var n int64
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM repositories) + (SELECT count(*) FROM blobs)`).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the destination database already holds a hub (%d users, repositories and blobs): migrate into an empty one: %w", n, errdefs.ErrConflict)
	}
	return nil
}

// copyBlobs copies every live blob the snapshot records.
func copyBlobs(ctx context.Context, snap *sql.Tx, src, dst storage.Driver, r *Report, progress Progress) error {
	rows, err := snap.QueryContext(ctx, `SELECT digest, size FROM blobs WHERE state = 2 ORDER BY digest`)
	if err != nil {
		return err
	}
	type blob struct {
		d    digest.Digest
		size int64
	}
	var blobs []blob
	for rows.Next() {
		var b blob
		if err := rows.Scan(&b.d, &b.size); err != nil {
			rows.Close()
			return err
		}
		blobs = append(blobs, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, b := range blobs {
		if n, err := dst.Stat(ctx, b.d); err == nil && n == b.size {
			r.Present++
		} else if err := copyBlob(ctx, src, dst, b.d, b.size); err != nil {
			var de *storage.DigestError
			if errors.As(err, &de) {
				r.Corrupted = append(r.Corrupted, b.d)
			}
			return err
		} else {
			r.Blobs++
			r.Bytes += b.size
		}
		if progress != nil {
			progress(i+1, len(blobs), b.d, b.size)
		}
	}
	return nil
}

// copyBlob streams one blob into dst, hashing it with its digest's
// algorithm, and commits it only when digest and size match.
func copyBlob(ctx context.Context, src, dst storage.Driver, d digest.Digest, size int64) error {
	if !d.Algorithm().Available() {
		return fmt.Errorf("blob %s: unknown digest algorithm: %w", d, errdefs.ErrInvalidArgument)
	}
	in, err := src.Open(ctx, d)
	if err != nil {
		return fmt.Errorf("blob %s is recorded but its content is missing: %w", d, err)
	}
	defer in.Close()
	id := newID()
	st, err := dst.Stage(ctx, id, 0, nil)
	if err != nil {
		return err
	}
	h := d.Algorithm().Hash()
	n, err := io.Copy(io.MultiWriter(st, h), in)
	if err == nil && (n != size || digest.NewDigest(d.Algorithm(), h) != d) {
		err = &storage.DigestError{Want: d, Got: digest.NewDigest(d.Algorithm(), h)}
		if n != size {
			err = fmt.Errorf("blob %s: %d bytes, not the %d recorded: %w", d, n, size, err)
		}
	}
	if err != nil {
		st.Close()
		dst.RemoveUpload(context.WithoutCancel(ctx), id)
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return st.Commit(ctx, d)
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "migrate-" + hex.EncodeToString(b)
}
