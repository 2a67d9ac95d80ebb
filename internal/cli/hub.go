package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub"
)

// hubFlags are the settings `hub serve` and `hub gc` share: a config file,
// overridden by flags, over the embedded defaults.
type hubFlags struct {
	config       string
	addr         string
	dataDir      string
	tlsCert      string
	tlsKey       string
	gcInterval   time.Duration
	gcGrace      time.Duration
	uploadMaxAge time.Duration
	open         bool
	url          string
}

// hubFile is the config file's shape (TOML).
type hubFile struct {
	Addr         string `toml:"addr"`
	DataDir      string `toml:"data_dir"`
	TLSCert      string `toml:"tls_cert"`
	TLSKey       string `toml:"tls_key"`
	GCInterval   string `toml:"gc_interval"`
	GCGrace      string `toml:"gc_grace"`
	UploadMaxAge string `toml:"upload_max_age"`
	Open         bool   `toml:"open"`
	URL          string `toml:"url"`
}

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
	cmd.AddCommand(a.hubServeCommand(), a.hubGCCommand(), a.hubUserCommand())
	return cmd
}

func (f *hubFlags) register(cmd *cobra.Command, serve bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "TOML config file (keys: addr, data_dir, tls_cert, tls_key, gc_interval, gc_grace, upload_max_age, open, url); flags override it")
	fl.StringVar(&f.dataDir, "data-dir", "", "where the hub keeps blobs and metadata (default /var/lib/strata/hub for root, else $XDG_DATA_HOME/strata/hub)")
	fl.DurationVar(&f.gcGrace, "gc-grace", 0, "keep blobs no manifest uses for this long, so pushes can finish (default 1h)")
	fl.DurationVar(&f.uploadMaxAge, "upload-max-age", 0, "reap uploads untouched for this long (default 24h)")
	if serve {
		fl.StringVar(&f.addr, "addr", "", "address to listen on (default "+hub.DefaultAddr+")")
		fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
		fl.StringVar(&f.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
		fl.DurationVar(&f.gcInterval, "gc-interval", 0, "run the garbage collector this often, while serving (default 1h; negative: never)")
		fl.BoolVar(&f.open, "open", false, "serve without accounts: anyone may push, pull and delete anything, and there is no web UI")
		fl.StringVar(&f.url, "url", "", "the hub's public URL, for token realms and links (default: as each request reached it)")
	}
}

// resolve merges the config file, the flags and the defaults.
func (f *hubFlags) resolve(a *app) (hub.Config, error) {
	var file hubFile
	path := f.config
	if path == "" {
		path = a.getenv("STRATA_HUB_CONFIG")
	}
	if path != "" {
		md, err := toml.DecodeFile(path, &file)
		if err != nil {
			return hub.Config{}, fmt.Errorf("hub config %s: %w", path, err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			return hub.Config{}, fmt.Errorf("hub config %s: unknown key %q", path, u[0].String())
		}
	}
	cfg := hub.Config{Addr: pick(f.addr, file.Addr), DataDir: pick(f.dataDir, file.DataDir),
		TLSCert: pick(f.tlsCert, file.TLSCert), TLSKey: pick(f.tlsKey, file.TLSKey),
		Open: f.open || file.Open, URL: pick(f.url, file.URL)}
	for _, d := range []struct {
		flag   time.Duration
		file   string
		key    string
		target *time.Duration
	}{{f.gcInterval, file.GCInterval, "gc_interval", &cfg.GCInterval},
		{f.gcGrace, file.GCGrace, "gc_grace", &cfg.GCGrace},
		{f.uploadMaxAge, file.UploadMaxAge, "upload_max_age", &cfg.UploadMaxAge}} {
		*d.target = d.flag
		if d.flag == 0 && d.file != "" {
			v, err := time.ParseDuration(d.file)
			if err != nil {
				return cfg, fmt.Errorf("hub config %s: %s = %q: want a duration such as \"90m\"", path, d.key, d.file)
			}
			*d.target = v
		}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dataDir(a.getenv), "hub")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	return cfg, nil
}

func pick(flag, file string) string {
	if flag != "" {
		return flag
	}
	return file
}

func (a *app) hubServeCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Run the hub's registry until interrupted",
		Long: `Serve the OCI distribution API (the one docker, podman, skopeo, crane and oras
speak) on --addr, with blobs on the local filesystem and metadata in SQLite
under --data-dir. With no flags it listens on localhost:5000.

With accounts (the default) the web UI is at the same address: the first
account made (on the web, or with 'strata hub user create --admin') is an
administrator. Clients log in with Docker's token auth: 'docker login' and
'strata login' take a password or a personal access token. --open serves the
registry API alone, to anyone, as a plain private registry.

Garbage collection runs online every --gc-interval: blobs no manifest uses are
freed once they are older than --gc-grace, and abandoned uploads once older
than --upload-max-age. Ctrl-C (SIGINT or SIGTERM) stops it gracefully.`,
		Example: `  strata hub serve
  strata hub serve --addr :5000 --data-dir /srv/hub
  strata hub serve --addr :443 --tls-cert hub.crt --tls-key hub.key --url https://hub.example.com
  strata hub serve --open --addr 127.0.0.1:5000   # no accounts, for a trusted network
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
				fmt.Fprintf(a.Out, "strata hub: serving %s://%s (data in %s)\n", scheme, addr, cfg.DataDir)
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
			cfg, err := f.resolve(a)
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "meta.db")); err != nil {
				return fmt.Errorf("no hub data in %s (set --data-dir): %w", cfg.DataDir, err)
			}
			cfg.Open = true // the collector needs no accounts
			deps, err := hub.Open(cmd.Context(), cfg, a.log)
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
