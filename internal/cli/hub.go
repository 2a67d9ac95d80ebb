package cli

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub"
)

func (a *app) hubCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "hub",
		Short:   "Serve and maintain strata's registry",
		GroupID: "hub",
		Long: `The hub is a container registry that speaks the OCI distribution API, so docker,
podman, skopeo, crane and oras push to it and pull from it as from any registry.
Each blob is stored once for the whole hub; metadata lives in SQLite.

People sign up on its web pages (or an administrator makes accounts with
'strata hub user'), push to repositories under their own name, keep them
public or private, and log in with docker or strata using their password or
a personal access token.`,
	}
	cmd.AddCommand(a.hubServeCommand(), a.hubGCCommand(), a.hubRetentionCommand(), a.hubFsckCommand(), a.hubUserCommand(), a.hubOrgCommand(), a.hubKeyCommand(), a.hubMigrateCommand(), a.hubAuditCommand())
	return cmd
}

func (a *app) hubServeCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Run the hub's registry until interrupted",
		Long: `Serve the OCI distribution API (the one docker, podman, skopeo, crane and oras
speak) on --addr, with blobs on the local filesystem and metadata in SQLite
under --data-dir. With no flags it listens on localhost:5000.

A hub that outgrows one machine keeps its blobs in an S3-API store (AWS S3,
Ceph RGW, SeaweedFS, MinIO, R2) with --storage, and its metadata in
PostgreSQL with --database; credentials for the store come from the standard
AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
~/.aws/credentials, roles). With --redirect, blob downloads go straight to the
store through short-lived presigned URLs. 'strata hub migrate' moves a hub's
data directory onto them.

With accounts (the default) the web UI is at the same address: the first
account made (on the web, or with 'strata hub user create --admin') is an
administrator. Clients log in with Docker's token auth: 'docker login' and
'strata login' take a password or a personal access token. --open serves the
registry API alone, to anyone, as a plain private registry.

Limits keep one account from filling the disk; each has a safe default:
--max-blob-size (10GiB), --max-manifest-size (4MiB), --quota (20GiB per
namespace: the distinct blobs its repositories link, each counted once) and
--max-uploads (64 at once per user). Sign-up on the website is open only
until the first account, the administrator, exists; administrators open it
again on the Admin page.

Garbage collection runs online every --gc-interval: blobs no manifest uses are
freed once they are older than --gc-grace, and abandoned uploads once older
than --upload-max-age. A scrub re-hashes every stored blob every
--scrub-interval, at most --scrub-rate a second, and quarantines what does
not hash to its digest (see 'strata hub fsck'). Ctrl-C (SIGINT or SIGTERM)
stops it gracefully.`,
		Example: `  strata hub serve
  strata hub serve --addr :5000 --data-dir /srv/hub
  strata hub serve --addr :443 --tls-cert hub.crt --tls-key hub.key --url https://hub.example.com
  strata hub serve --open --addr 127.0.0.1:5000   # no accounts, for a trusted network
  strata hub serve --quota 100GiB --max-blob-size 20GiB --trusted-proxy 10.0.0.0/8
  strata hub serve --storage 's3://hub/blobs?endpoint=http://127.0.0.1:8333&region=us-east-1' \
      --database postgres://strata@127.0.0.1:5432/hub --redirect
  strata hub serve --config /etc/strata/hub.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.resolve(a)
			if err != nil {
				return err
			}
			deps, err := hub.Open(cmd.Context(), cfg, a.log)
			if err != nil {
				return err
			}
			defer deps.Meta.Close()
			scheme := "http"
			if cfg.TLSCert != "" {
				scheme = "https"
			}
			return hub.Serve(cmd.Context(), cfg, deps, func(addr string) {
				fmt.Fprintf(a.Out, "strata hub: serving %s://%s (%s)\n", scheme, addr, whereData(cfg))
				if cfg.Open {
					fmt.Fprintln(a.Out, "strata hub: open: no accounts, anyone may push and delete")
				} else {
					fmt.Fprintf(a.Out, "strata hub: web UI at %s://%s/ (token service at /auth/token)\n", scheme, addr)
				}
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

// whereData says where a hub keeps its blobs and metadata, passwords left out.
func whereData(cfg hub.Config) string {
	if cfg.Storage == "" && cfg.Database == "" {
		return "data in " + cfg.DataDir
	}
	blobs, metadata := cfg.Storage, "PostgreSQL"
	if blobs == "" {
		blobs = filepath.Join(cfg.DataDir, "content")
	}
	if cfg.Database == "" {
		metadata = filepath.Join(cfg.DataDir, "meta.db")
	}
	if u, err := url.Parse(cfg.Database); err == nil && cfg.Database != "" {
		metadata = "PostgreSQL at " + u.Host + u.Path
	}
	return "blobs in " + blobs + ", metadata in " + metadata
}

func (a *app) hubGCCommand() *cobra.Command {
	var f hubFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc [OPTIONS]",
		Short: "Free blobs no manifest uses and abandoned uploads",
		Long: `Collect the hub's garbage now: links no manifest refers to and that nobody
touched for --gc-grace, the blobs left with no link, content with no record,
and uploads untouched for --upload-max-age. It is safe while the hub serves:
pushes in flight keep their blobs through the grace period.`,
		Example: `  strata hub gc --dry-run
  strata hub gc --data-dir /srv/hub --gc-grace 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, deps, err := a.openHubData(cmd, &f)
			if err != nil {
				return err
			}
			defer deps.Meta.Close()
			r, err := deps.Blobs.CollectGarbage(cmd.Context(), dryRun)
			if err != nil {
				return err
			}
			verb := "Freed"
			if dryRun {
				verb = "Would free"
			}
			fmt.Fprintf(a.Out, "%s %s: %d blob(s), %d unreferenced link(s), %d abandoned upload(s), %d orphaned file(s)\n",
				verb, humanBytes(r.Bytes()), r.Blobs, r.Links, r.Uploads, r.Orphans)
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would be freed")
	return cmd
}

// openHubData opens the hub's data for a maintenance command (gc, fsck):
// without accounts, and refusing a data directory that holds no hub.
func (a *app) openHubData(cmd *cobra.Command, f *hubFlags) (hub.Config, hub.Deps, error) {
	cfg, err := f.resolve(a)
	if err != nil {
		return cfg, hub.Deps{}, err
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "meta.db")); err != nil && cfg.Database == "" {
		return cfg, hub.Deps{}, fmt.Errorf("no hub data in %s (set --data-dir): %w", cfg.DataDir, err)
	}
	cfg.Open = true // they need no accounts
	deps, err := hub.Open(cmd.Context(), cfg, a.log)
	return cfg, deps, err
}

// humanBytes writes a size the way docker does (decimal units).
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", v), "0"), ".0") + " " + units[i] + fmt.Sprintf(" (%d bytes)", n)
}
