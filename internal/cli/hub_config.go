package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/hub/mirror/upstream"
)

// hubFlags are the settings `hub serve`, `hub gc` and `hub fsck` share: a
// config file, overridden by flags, over the embedded defaults.
type hubFlags struct {
	config       string
	addr         string
	dataDir      string
	tlsCert      string
	tlsKey       string
	gcInterval   time.Duration
	gcGrace      time.Duration
	uploadMaxAge time.Duration
	keyRotation  time.Duration
	drainDelay   time.Duration
	shutdownWait time.Duration
	open         bool
	url          string
	storage      string
	database     string
	redirect     bool
	hooksPrivate bool

	maxBlobSize     string
	maxManifestSize string
	quota           string
	maxUploads      int
	trustedProxies  []string
	scrubInterval   time.Duration
	scrubRate       string
	retention       time.Duration
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
	KeyRotation  string `toml:"key_rotation"`
	DrainDelay   string `toml:"drain_delay"`
	ShutdownWait string `toml:"shutdown_timeout"`
	Open         bool   `toml:"open"`
	URL          string `toml:"url"`
	Storage      string `toml:"storage"`
	Database     string `toml:"database"`
	Redirect     bool   `toml:"redirect"`
	HooksPrivate bool   `toml:"webhooks_allow_private"`

	MaxBlobSize     string   `toml:"max_blob_size"`
	MaxManifestSize string   `toml:"max_manifest_size"`
	Quota           string   `toml:"quota"`
	MaxUploads      int      `toml:"max_uploads"`
	TrustedProxies  []string `toml:"trusted_proxies"`
	ScrubInterval   string   `toml:"scrub_interval"`
	ScrubRate       string   `toml:"scrub_rate"`
	Retention       string   `toml:"retention_interval"`

	Mirror []mirrorFile `toml:"mirror"`
}

// mirrorFile is one [[mirror]]: an upstream the hub is a pull-through cache of.
type mirrorFile struct {
	URL      string `toml:"url"`
	Prefix   string `toml:"prefix"`
	Root     bool   `toml:"root"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	TagTTL   string `toml:"tag_ttl"`
	SignIn   bool   `toml:"sign_in"`
}

func (f *hubFlags) register(cmd *cobra.Command, serve bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "TOML config file (its keys are the flags' names with _ for -); flags override it")
	fl.StringVar(&f.dataDir, "data-dir", "", "where the hub keeps blobs and metadata (default /var/lib/strata/hub for root, else $XDG_DATA_HOME/strata/hub)")
	fl.DurationVar(&f.gcGrace, "gc-grace", 0, "keep blobs no manifest uses for this long, so pushes can finish (default 1h)")
	fl.DurationVar(&f.uploadMaxAge, "upload-max-age", 0, "reap uploads untouched for this long (default 24h)")
	fl.StringVar(&f.storage, "storage", "", "keep blobs in an S3-API store: s3://BUCKET/PREFIX?endpoint=URL&region=REGION (credentials from AWS_* or ~/.aws; default: the data directory)")
	fl.StringVar(&f.database, "database", "", "keep metadata in PostgreSQL: postgres://USER:PASSWORD@HOST:PORT/DB (default: SQLite in the data directory)")
	if !serve {
		return
	}
	fl.StringVar(&f.addr, "addr", "", "address to listen on (default "+hub.DefaultAddr+")")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	fl.DurationVar(&f.gcInterval, "gc-interval", 0, "run the garbage collector this often, while serving (default 1h; negative: never)")
	fl.DurationVar(&f.keyRotation, "key-rotation", 0, "sign tokens with a new key this often (default 720h; negative: never); see 'strata hub key'")
	fl.DurationVar(&f.drainDelay, "drain-delay", 0, "on SIGTERM, answer /readyz with 503 and serve on this long before closing, so a load balancer moves away first")
	fl.DurationVar(&f.shutdownWait, "shutdown-timeout", 0, "on SIGTERM, how long requests in flight (uploads too) may take to finish (default 30s)")
	fl.BoolVar(&f.open, "open", false, "serve without accounts: anyone may push, pull and delete anything, and there is no web UI")
	fl.StringVar(&f.url, "url", "", "the hub's public URL, for token realms and links (default: as each request reached it)")
	fl.BoolVar(&f.redirect, "redirect", false, "answer blob downloads with a redirect to a short-lived URL of the S3 store, so the hub does not carry the bytes")
	fl.StringVar(&f.maxBlobSize, "max-blob-size", "", `refuse blobs larger than this, such as "2GiB" (default 10GiB; "none": no limit)`)
	fl.StringVar(&f.maxManifestSize, "max-manifest-size", "", `refuse manifests larger than this (default and most 4MiB)`)
	fl.StringVar(&f.quota, "quota", "", `what each namespace may store, its distinct blobs counted once (default 20GiB; "none": no quota)`)
	fl.IntVar(&f.maxUploads, "max-uploads", 0, "uploads one user (or, with --open, one client address) may have going at once (default 64; -1: no limit)")
	fl.DurationVar(&f.scrubInterval, "scrub-interval", 0, "re-hash every stored blob this often while serving, quarantining damaged ones (default 24h; negative: never)")
	fl.DurationVar(&f.retention, "retention-interval", 0, "run the tag policies' retention rules this often while serving (default 1h; negative: never)")
	fl.StringVar(&f.scrubRate, "scrub-rate", "", `read at most this much a second while scrubbing (default 32MiB; "none": as fast as the disk goes)`)
	fl.BoolVar(&f.hooksPrivate, "webhooks-allow-private", false, "let webhooks reach loopback, private and link-local addresses (refused by default: a hook could make the hub call its own network)")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxy", nil, "a reverse proxy (address or CIDR) whose X-Forwarded-For names the client, for rate limits; repeat for several")
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
		Open: f.open || file.Open, URL: pick(f.url, file.URL), MaxUploads: f.maxUploads,
		Storage: pick(f.storage, file.Storage), Database: pick(f.database, file.Database), Redirect: f.redirect || file.Redirect}
	if cfg.MaxUploads == 0 {
		cfg.MaxUploads = file.MaxUploads
	}
	cfg.Webhooks.AllowPrivate = f.hooksPrivate || file.HooksPrivate
	bad := func(key, value, want string) error {
		return fmt.Errorf("hub config: %s = %q: want %s", key, value, want)
	}
	for _, d := range []struct {
		flag   time.Duration
		file   string
		key    string
		target *time.Duration
	}{{f.gcInterval, file.GCInterval, "gc_interval", &cfg.GCInterval},
		{f.gcGrace, file.GCGrace, "gc_grace", &cfg.GCGrace},
		{f.uploadMaxAge, file.UploadMaxAge, "upload_max_age", &cfg.UploadMaxAge},
		{f.scrubInterval, file.ScrubInterval, "scrub_interval", &cfg.ScrubInterval},
		{f.retention, file.Retention, "retention_interval", &cfg.RetentionInterval},
		{f.keyRotation, file.KeyRotation, "key_rotation", &cfg.Auth.KeyRotation},
		{f.drainDelay, file.DrainDelay, "drain_delay", &cfg.DrainDelay},
		{f.shutdownWait, file.ShutdownWait, "shutdown_timeout", &cfg.ShutdownTimeout}} {
		*d.target = d.flag
		if d.flag == 0 && d.file != "" {
			v, err := time.ParseDuration(d.file)
			if err != nil {
				return cfg, bad(d.key, d.file, `a duration such as "90m"`)
			}
			*d.target = v
		}
	}
	for _, sz := range []struct {
		value  string
		key    string
		target *int64
	}{{pick(f.maxBlobSize, file.MaxBlobSize), "max_blob_size", &cfg.MaxBlobSize},
		{pick(f.maxManifestSize, file.MaxManifestSize), "max_manifest_size", &cfg.MaxManifestSize},
		{pick(f.quota, file.Quota), "quota", &cfg.Quota},
		{pick(f.scrubRate, file.ScrubRate), "scrub_rate", &cfg.ScrubRate}} {
		v, err := parseSize(sz.value)
		if err != nil {
			return cfg, bad(sz.key, sz.value, `a size such as "500MiB" or "2GB", or "none"`)
		}
		*sz.target = v
	}
	for _, p := range append(f.trustedProxies, file.TrustedProxies...) {
		prefix, err := parseProxy(p)
		if err != nil {
			return cfg, bad("trusted_proxies", p, `an address or a CIDR such as "10.0.0.0/8"`)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	for _, m := range file.Mirror {
		up := mirror.Upstream{URL: m.URL, Prefix: m.Prefix, Root: m.Root, Username: m.Username,
			Password: m.Password, SignIn: m.SignIn}
		if m.TagTTL != "" {
			v, err := time.ParseDuration(m.TagTTL)
			if err != nil || v <= 0 {
				return cfg, bad("mirror.tag_ttl", m.TagTTL, `a duration such as "5m"`)
			}
			up.TagTTL = v
		}
		cfg.Mirrors = append(cfg.Mirrors, up)
	}
	if err := mirror.Check(cfg.Mirrors); err != nil {
		return cfg, fmt.Errorf("hub config: %w", err)
	}
	cfg.Upstreams = upstream.New(cfg.Mirrors)
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dataDir(a.getenv), "hub")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	if cfg.Redirect && !strings.HasPrefix(cfg.Storage, "s3://") {
		return cfg, errors.New("--redirect needs blobs in an S3-API store (--storage s3://...)")
	}
	return cfg, nil
}

// parseSize reads a size for the config: "" is the default (0), "none"
// is no limit (-1), otherwise bytes ("1048576") or with a unit, binary
// either way ("512MiB", "2GB", "10g").
func parseSize(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0, nil
	case "none", "unlimited":
		return -1, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if n == 0 {
			return -1, nil
		}
		return n, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, errors.New("not a size")
	}
	return n, nil
}

// parseProxy reads a trusted proxy: an address or a CIDR.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func pick(flag, file string) string {
	if flag != "" {
		return flag
	}
	return file
}

// dataFlags are the flags of commands that work on a hub's data from its
// machine (users, organizations, keys, the audit log): where it is.
func (f *hubFlags) dataFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.config, "config", "", "the hub's TOML config file (for its data_dir and database)")
	fl.StringVar(&f.dataDir, "data-dir", "", "the hub's data directory (default /var/lib/strata/hub for root, else $XDG_DATA_HOME/strata/hub)")
	fl.StringVar(&f.database, "database", "", "the hub's PostgreSQL database (postgres://USER@HOST/DB)")
}
