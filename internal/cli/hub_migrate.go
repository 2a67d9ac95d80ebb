package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/migrate"
)

func (a *app) hubMigrateCommand() *cobra.Command {
	var from, toStorage, toDatabase string
	cmd := &cobra.Command{
		Use:   "migrate --from DATA_DIR --to-storage URL --to-database URL",
		Short: "Move a hub's data directory onto S3-API storage and PostgreSQL",
		Long: `Move a single-node hub (blobs and SQLite under its data directory) onto the
engines a hub past one machine runs on: every blob into an S3-API store,
each one hashed on the way and refused if it does not match its digest, then
every repository, tag, manifest, account, token and session into an empty
PostgreSQL database. The data directory is only read.

The metadata is read at one moment; blobs pushed after it are not moved, so
stop pushes (or the hub) for the run that counts. A run that stopped half way
can be started again with an empty database: blobs already moved are kept.
Afterwards serve with the same --data-dir (it keeps the token signing key)
and the new --storage and --database.`,
		Example: `  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  strata hub migrate --from /var/lib/strata/hub \
      --to-storage 's3://hub/blobs?endpoint=http://127.0.0.1:8333&region=us-east-1' \
      --to-database postgres://strata@127.0.0.1:5432/hub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || toStorage == "" || toDatabase == "" {
				return errors.New("migrate needs --from, --to-storage and --to-database")
			}
			if _, err := os.Stat(filepath.Join(from, "meta.db")); err != nil {
				return fmt.Errorf("no hub data in %s (--from names a hub's data directory): %w", from, err)
			}
			dst, err := hub.OpenStorage(cmd.Context(), toStorage, "")
			if err != nil {
				return err
			}
			last := -1
			r, err := migrate.Run(cmd.Context(), from, dst, toDatabase, func(done, total int, _ digest.Digest, _ int64) {
				if pct := done * 100 / total; pct/10 != last/10 || done == total {
					fmt.Fprintf(a.Err, "blobs: %d of %d\n", done, total)
					last = pct
				}
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "Moved %d blob(s), %s, each checked against its digest (%d already there), and %d metadata row(s).\n",
				r.Blobs, humanBytes(r.Bytes), r.Present, r.Rows)
			fmt.Fprintf(a.Out, "Serve it with: strata hub serve --data-dir %s --storage '%s' --database '%s'\n", from, toStorage, redacted(toDatabase))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the hub's data directory (meta.db and content/)")
	fl.StringVar(&toStorage, "to-storage", "", "where blobs go: s3://BUCKET/PREFIX?endpoint=URL&region=REGION (credentials from AWS_* or ~/.aws)")
	fl.StringVar(&toDatabase, "to-database", "", "where metadata goes: postgres://USER:PASSWORD@HOST:PORT/DB, an empty database")
	return cmd
}

// redacted is a URL with its password, if any, hidden.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
