package engines

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL server on 127.0.0.1.
type Postgres struct {
	Port int
	dir  string
	bin  string // PostgreSQL's bin directory
	cred *syscall.Credential
	opts PostgresOptions
	proc *process
	dbs  atomic.Int64
}

// PostgresOptions tune a server.
type PostgresOptions struct {
	// Durable keeps fsync on (benchmarks); tests turn it off for speed.
	Durable bool
	// Statements loads pg_stat_statements, for Statements.
	Statements bool
}

// pgBinDir finds Debian's PostgreSQL programs (initdb is not in PATH there).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", &Missing{What: "PostgreSQL is not installed (Debian's postgresql): scripts/test installs it"}
}

// StartPostgres initializes a cluster in a new directory and starts it.
// PostgreSQL refuses to run as root, so as root it runs as the postgres
// user, in a directory every parent of which that user can enter.
func StartPostgres(opts PostgresOptions) (*Postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		if pg.cred, err = credentialOf("postgres"); err != nil {
			return nil, err
		}
		if err := reachable(os.TempDir()); err != nil {
			return nil, err
		}
	}
	if pg.dir, err = makeDir("pg"); err != nil {
		return nil, err
	}
	if err := os.Chmod(pg.dir, 0o755); err != nil {
		return nil, err
	}
	if pg.cred != nil {
		if err := os.Chown(pg.dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(pg.dir, "data"), "-A", "trust",
		"-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		pg.Remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if pg.Port, err = freePort(0); err != nil {
		pg.Remove()
		return nil, err
	}
	if err := pg.Start(); err != nil {
		pg.Remove()
		return nil, err
	}
	return pg, nil
}

// credentialOf is the uid and gid of a user.
func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, &Missing{What: "no " + name + " user to run PostgreSQL as (Debian's postgresql makes it)"}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable checks that others may enter dir and each of its parents.
func reachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return &Missing{What: fmt.Sprintf("%s is not o+x, so the postgres user cannot reach a server directory under %s (set TMPDIR)", d, dir)}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// Start starts the server (again, after Stop) and waits until it answers.
func (pg *Postgres) Start() error {
	args := []string{"-D", filepath.Join(pg.dir, "data"), "-k", pg.dir, "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port),
		"-c", "max_connections=300", "-c", "shared_buffers=64MB"}
	if pg.opts.Statements {
		args = append(args, "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
	}
	if !pg.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	var err error
	pg.proc, err = start(filepath.Join(pg.dir, "postgres.log"), pg.cred, syscall.SIGINT, filepath.Join(pg.bin, "postgres"), args...)
	if err != nil {
		return err
	}
	return pg.proc.waitUntil(60*time.Second, "postgres", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			return false
		}
		c.Close(ctx)
		return true
	})
}

// Stop shuts the server down (fast: clients are disconnected); Start brings it back.
func (pg *Postgres) Stop() {
	pg.proc.stop(syscall.SIGINT, 30*time.Second)
}

// Remove stops the server and deletes its directory.
func (pg *Postgres) Remove() {
	if pg.proc != nil {
		pg.Stop()
	}
	os.RemoveAll(pg.dir)
}

// URL is the connection URL of database db.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// NewDatabase creates an empty database named after prefix and returns its URL.
func (pg *Postgres) NewDatabase(ctx context.Context, prefix string) (string, error) {
	c, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	name := fmt.Sprintf("%s_%d", sanitize(prefix), pg.dbs.Add(1))
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return pg.URL(name), nil
}

// sanitize makes a database name of lowercase letters, digits and _, at most 40 long.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	if b.Len() == 0 {
		return "db"
	}
	return b.String()
}

// Statement is what the server did for one statement of one database, as
// pg_stat_statements counts it (PostgresOptions.Statements): how often it
// ran and the milliseconds it took, the commits' WAL flushes included.
type Statement struct {
	Query string
	Calls int64
	Ms    float64
}

// Statements reads pg_stat_statements for database db. The counts only
// grow: take the difference of two readings.
func (pg *Postgres) Statements(ctx context.Context, db string) (map[string]Statement, error) {
	c, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, `SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1`, db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Statement{}
	for rows.Next() {
		var st Statement
		if err := rows.Scan(&st.Query, &st.Calls, &st.Ms); err != nil {
			return nil, err
		}
		e := out[st.Query]
		e.Query, e.Calls, e.Ms = st.Query, e.Calls+st.Calls, e.Ms+st.Ms
		out[st.Query] = e
	}
	return out, rows.Err()
}
