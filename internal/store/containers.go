package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// containersSchema is the migration that adds containers. A container names
// its image by ID without a foreign key: `rmi -f` may delete an image that a
// stopped container still names, as in Docker.
const containersSchema = `CREATE TABLE containers (
	id        TEXT PRIMARY KEY,      -- 64 hex digits
	name      TEXT NOT NULL UNIQUE,  -- without Docker's leading "/"
	image_id  TEXT NOT NULL,         -- config digest
	image     TEXT NOT NULL,         -- the image as the user named it
	created   INTEGER NOT NULL,      -- unix nanoseconds
	settings  TEXT NOT NULL,         -- JSON: how to run it (package runtime/container)
	state     TEXT NOT NULL,         -- created, running, exited
	pid       INTEGER NOT NULL DEFAULT 0,  -- the strata process watching it while it runs
	pid_start INTEGER NOT NULL DEFAULT 0,  -- that process's start time, against PID reuse
	exit_code INTEGER NOT NULL DEFAULT 0,
	error     TEXT NOT NULL DEFAULT '',    -- why it failed to start
	started   INTEGER NOT NULL DEFAULT 0,
	finished  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX containers_image ON containers(image_id);`

// Container states.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
)

// Container is a container's record.
type Container struct {
	ID       string
	Name     string
	ImageID  digest.Digest
	Image    string
	Created  time.Time
	Settings []byte
	State    string
	Pid      int
	PidStart uint64
	ExitCode int
	Error    string
	Started  time.Time
	Finished time.Time
}

const containerColumns = `id, name, image_id, image, created, settings, state, pid, pid_start, exit_code, error, started, finished`

func scanContainer(row interface{ Scan(...any) error }) (Container, error) {
	var c Container
	var created, started, finished int64
	err := row.Scan(&c.ID, &c.Name, &c.ImageID, &c.Image, &created, &c.Settings, &c.State, &c.Pid, &c.PidStart,
		&c.ExitCode, &c.Error, &started, &finished)
	c.Created, c.Started, c.Finished = unixTime(created), unixTime(started), unixTime(finished)
	return c, err
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// AddContainer records a new container; a name in use is an
// errdefs.ErrConflict error, worded as Docker's.
func (s *Store) AddContainer(ctx context.Context, c Container) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM containers WHERE name = ?`, c.Name).Scan(&other)
		if err == nil {
			return fmt.Errorf("the container name %q is already in use by container %q; remove (or rename) that container to be able to reuse that name: %w",
				"/"+c.Name, other, errdefs.ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO containers (`+containerColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			c.ID, c.Name, c.ImageID, c.Image, unixNano(c.Created), c.Settings, c.State, c.Pid, c.PidStart,
			c.ExitCode, c.Error, unixNano(c.Started), unixNano(c.Finished))
		return err
	})
}

// Container finds a container by full ID, unique ID prefix, or name, as
// Docker does.
func (s *Store) Container(ctx context.Context, ref string) (Container, error) {
	var c Container
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = findContainer(ctx, tx, ref)
		return err
	})
	return c, err
}

func findContainer(ctx context.Context, tx *sql.Tx, ref string) (Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	c, err := scanContainer(tx.QueryRowContext(ctx, `SELECT `+containerColumns+` FROM containers WHERE id = ? OR name = ?`, ref, ref))
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return c, err
	}
	if ref != "" && isHex(ref) {
		rows, err := tx.QueryContext(ctx, `SELECT `+containerColumns+` FROM containers WHERE id LIKE ? || '%'`, ref)
		if err != nil {
			return Container{}, err
		}
		defer rows.Close()
		var found []Container
		for rows.Next() {
			c, err := scanContainer(rows)
			if err != nil {
				return Container{}, err
			}
			found = append(found, c)
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return Container{}, fmt.Errorf("multiple containers found with the ID prefix %q: give more of it: %w", ref, errdefs.ErrInvalidArgument)
		}
	}
	return Container{}, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
}

// Containers lists every container, newest first.
func (s *Store) Containers(ctx context.Context) ([]Container, error) {
	var out []Container
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+containerColumns+` FROM containers ORDER BY created DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanContainer(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// UpdateContainer changes a container's record in one transaction: fn sees
// the current record and changes it, or returns an error to change nothing.
func (s *Store) UpdateContainer(ctx context.Context, id string, fn func(*Container) error) (Container, error) {
	var c Container
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = findContainer(ctx, tx, id); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE containers SET state = ?, pid = ?, pid_start = ?, exit_code = ?, error = ?,
			started = ?, finished = ?, settings = ? WHERE id = ?`, c.State, c.Pid, c.PidStart, c.ExitCode, c.Error,
			unixNano(c.Started), unixNano(c.Finished), c.Settings, c.ID)
		return err
	})
	return c, err
}

// RemoveContainer deletes a container's record.
func (s *Store) RemoveContainer(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM containers WHERE id = ?`, id)
		return err
	})
}

// ContainersUsing names the containers made from image id: what `rmi`
// checks before it deletes an image (see Store.InUse).
func (s *Store) ContainersUsing(ctx context.Context, id digest.Digest) ([]string, error) {
	var names []string
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM containers WHERE image_id = ? ORDER BY created`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cid string
			if err := rows.Scan(&cid); err != nil {
				return err
			}
			names = append(names, cid[:12])
		}
		return rows.Err()
	})
	return names, err
}

// RenameContainer gives a container a new name; a name in use is ErrConflict.
func (s *Store) RenameContainer(ctx context.Context, ref, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		c, err := findContainer(ctx, tx, ref)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM containers WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the container name %q is already in use: %w", name, errdefs.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE containers SET name = ? WHERE id = ?`, name, c.ID)
		return err
	})
}
