// Package hub is strata's registry: the OCI distribution API over blobs
// stored once for the whole hub (package storage: a directory or an
// S3-API store) and metadata in SQLite or PostgreSQL (package meta), with
// what teams use around it: a pull-through cache (mirror), organizations
// and teams, webhooks, tag rules and retention, and an audit log.
// NewServer builds the HTTP handler from its parts, routes.go lists the
// whole surface, and Serve runs it with the background work (garbage
// collection, retention, scrub) until its context ends.
//
// With accounts (the default), the registry API answers Docker's token
// auth (package auth decides who may do what), the token service is at
// /auth/token, and the web UI (package web) is at every other path.
// Config.Open serves the registry API alone, to anyone.
//
// On disk, under the data directory:
//
//	meta.db                  metadata (SQLite, WAL), unless Config.Database names PostgreSQL
//	content/blobs            blob content by digest, unless Config.Storage names an S3-API store
//	content/uploads          uploads in progress (with the blobs)
//	mirror-spool             blobs on their way from a mirror's upstream (unlinked files)
//	keys/token-signing.pem   where hubs kept their token signing key before
//	                         it moved into the metadata (read once, if there)
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/deadline"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/health"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/metrics"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/hub/retention"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/web"
	"github.com/strata-dev/strata/internal/hub/webhook"
)

// Config is what an operator sets (flags, the config file).
type Config struct {
	Addr    string // host:port to listen on
	DataDir string
	// Storage is where blobs go: "" the data directory, or an S3-API store
	// (s3://BUCKET/PREFIX?endpoint=URL&region=REGION; credentials from the
	// standard AWS environment and files).
	Storage string
	// Database is where metadata goes: "" SQLite in the data directory, or
	// PostgreSQL (postgres://USER@HOST:PORT/DB).
	Database string
	// Redirect answers blob GETs with a 307 to a short-lived URL of the
	// object store itself (S3 storage only), so the hub does not carry the bytes.
	Redirect bool
	TLSCert  string // both set: serve HTTPS
	TLSKey   string
	// GCInterval is how often the online collector runs; < 0 never.
	GCInterval time.Duration
	// GCGrace keeps unreferenced blobs this long (a push's layers before its manifest).
	GCGrace time.Duration
	// UploadMaxAge reaps uploads untouched this long.
	UploadMaxAge time.Duration
	// Open serves without accounts: anyone may push, pull and delete
	// anything, and there is no web UI. For a trusted network, or tests.
	Open bool
	// URL is the hub's public URL (https://hub.example.com), for token
	// realms and links; empty: as each request reached the hub.
	URL string
	// Auth tunes the token service and sign-in limits (tests make hashing cheap).
	Auth auth.Options
	// Webhooks tunes deliveries; AllowPrivate lets hooks reach loopback and
	// private addresses (refused by default).
	Webhooks webhook.Options

	// Limits. Zero values take the defaults below; < 0 means no limit.
	MaxBlobSize     int64 // bytes in one blob
	MaxManifestSize int64 // bytes in one manifest (at most 4 MiB, what strata parses)
	Quota           int64 // bytes each namespace stores (the distinct blobs its repositories link)
	MaxUploads      int   // uploads one user (or client address, without accounts) has going at once
	// TrustedProxies are the reverse proxies in front of the hub whose
	// X-Forwarded-For says who the client is (for rate limits).
	TrustedProxies []netip.Prefix

	// RetentionInterval is how often the tag policies' retention rules run
	// (< 0: never; default 1h), on one node of the hub at a time; see
	// package retention.
	RetentionInterval time.Duration

	// ScrubInterval is how often every stored blob is re-hashed (< 0:
	// never; default 24h), reading at most ScrubRate bytes a second
	// (default 32 MiB/s); see runBackground.
	ScrubInterval time.Duration
	ScrubRate     int64

	// Slow clients: a request's header must come within HeaderTimeout
	// (default 20s), an idle kept-alive connection closes after
	// IdleTimeout (2m), and bodies and responses follow Slow (package
	// deadline: no pause over a minute, at least 16 KiB/s on average).
	HeaderTimeout time.Duration
	IdleTimeout   time.Duration
	Slow          deadline.Policy

	// Shutting down (Serve, when its context ends): /readyz answers 503
	// for DrainDelay while requests are still served (default 0: a load
	// balancer that checks /readyz every second wants 2-3s), then no new
	// request is taken and those in flight get ShutdownTimeout (30s).
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration

	// Mirrors are the upstream registries the hub is a pull-through cache
	// of ([[mirror]] in the config; package mirror), and Upstreams what it
	// fetches from them with (upstream.New(Mirrors), which package hub
	// cannot import; the command sets it).
	Mirrors   []mirror.Upstream
	Upstreams mirror.Registry
}

// Defaults for an empty Config.
const (
	DefaultAddr         = "localhost:5000"
	DefaultGCInterval   = time.Hour
	DefaultGCGrace      = time.Hour
	DefaultUploadMaxAge = 24 * time.Hour

	DefaultMaxBlobSize     = 10 << 30 // 10 GiB
	DefaultMaxManifestSize = 4 << 20  // 4 MiB: image.MaxManifestSize
	DefaultQuota           = 20 << 30 // 20 GiB per namespace
	DefaultMaxUploads      = 64
	DefaultScrubInterval   = 24 * time.Hour
	DefaultRetention       = time.Hour
	DefaultScrubRate       = 32 << 20 // bytes a second
)

// withDefaults fills what cfg leaves empty.
func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	if cfg.UploadMaxAge <= 0 {
		cfg.UploadMaxAge = DefaultUploadMaxAge
	}
	if cfg.RetentionInterval == 0 {
		cfg.RetentionInterval = DefaultRetention
	}
	if cfg.ScrubInterval == 0 {
		cfg.ScrubInterval = DefaultScrubInterval
	}
	cfg.ScrubRate = orDefault(cfg.ScrubRate, DefaultScrubRate)
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 20 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Slow.Stall <= 0 {
		cfg.Slow = deadline.DefaultPolicy
	}
	cfg.MaxBlobSize = orDefault(cfg.MaxBlobSize, DefaultMaxBlobSize)
	cfg.MaxManifestSize = orDefault(cfg.MaxManifestSize, DefaultMaxManifestSize)
	cfg.Quota = orDefault(cfg.Quota, DefaultQuota)
	cfg.MaxUploads = int(orDefault(int64(cfg.MaxUploads), DefaultMaxUploads))
	return cfg
}

// orDefault is v, def when v is 0, and 0 (no limit) when v < 0.
func orDefault(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// check says what is wrong with cfg's limits.
func (cfg Config) check() error {
	if err := mirror.Check(cfg.Mirrors); err != nil {
		return err
	}
	if cfg.MaxManifestSize > DefaultMaxManifestSize {
		return fmt.Errorf("hub: max_manifest_size %d is more than %d bytes, the most strata reads", cfg.MaxManifestSize, DefaultMaxManifestSize)
	}
	return nil
}

// limits are cfg's limits for the registry API.
func (cfg Config) limits() distapi.Limits {
	return distapi.Limits{MaxBlobSize: cfg.MaxBlobSize, MaxManifestSize: cfg.MaxManifestSize}
}

// Deps are the parts a server is built from.
type Deps struct {
	Meta   meta.Store
	Blobs  *storage.Store
	Access access.Decider // nil: access.AllowAll
	Auth   *auth.Service  // nil: a hub without accounts
	Log    *slog.Logger
	// Metrics count what the node does; Health answers load balancers.
	// nil: made by NewServer (Open makes them with the engines counted).
	Metrics *metrics.Metrics
	Health  *health.Checker
	// Pulls counts manifest pulls and records them in batches (nil: made
	// by NewServer; Open makes it, so that its owner may Flush it).
	Pulls *distapi.PullCounter
	// Mirror fills mirrored repositories from their upstreams (nil: the
	// hub mirrors nothing).
	Mirror *mirror.Mirror
	// Audit records who did what (nil: made by NewServer, counted in Metrics).
	Audit *audit.Recorder
	// Webhooks delivers what the audit log records to repositories' hooks
	// (nil: made by NewServer).
	Webhooks *webhook.Dispatcher
}

// Open opens the metadata and blob storage in cfg.DataDir. Close the
// returned Deps' Meta when done.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Deps, error) {
	cfg = cfg.withDefaults()
	if cfg.DataDir == "" {
		return Deps{}, errors.New("hub: no data directory")
	}
	if err := cfg.check(); err != nil {
		return Deps{}, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return Deps{}, fmt.Errorf("hub data directory: %w", err)
	}
	mx := metrics.New()
	drv, err := OpenStorage(ctx, cfg.Storage, cfg.DataDir)
	if err != nil {
		return Deps{}, err
	}
	m, err := openMeta(ctx, cfg.Database, cfg.DataDir, mx.DBTracer())
	if err != nil {
		return Deps{}, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	blobs := storage.New(mx.Driver(drv), m, storage.Options{Grace: cfg.GCGrace, UploadMaxAge: cfg.UploadMaxAge, Log: log,
		MaxBlobSize: cfg.MaxBlobSize, Quota: cfg.Quota, MaxUploads: cfg.MaxUploads, Redirect: cfg.Redirect,
		Collected: mx.GCRun})
	var spool string
	if len(cfg.Mirrors) > 0 {
		spool = filepath.Join(cfg.DataDir, "mirror-spool")
		if err := os.MkdirAll(spool, 0o700); err != nil {
			m.Close()
			return Deps{}, fmt.Errorf("hub mirror spool: %w", err)
		}
	}
	mr, err := mirror.New(cfg.Mirrors, cfg.Upstreams, m, blobs, mirror.Options{Log: log, SpoolDir: spool})
	if err != nil {
		m.Close()
		return Deps{}, err
	}
	deps := withObservers(Deps{Meta: m, Blobs: blobs, Access: access.AllowAll{}, Log: log, Metrics: mx, Mirror: mr})
	deps = withWebhooks(cfg, deps)
	if !cfg.Open {
		opts := cfg.Auth
		opts.URL, opts.Log, opts.Audit = cfg.URL, log, deps.Audit
		if mr != nil {
			opts.Mirrors = mr
		}
		if opts.KeyFile == "" {
			opts.KeyFile = filepath.Join(cfg.DataDir, "keys", "token-signing.pem")
		}
		if deps.Auth, err = auth.New(ctx, m, opts); err != nil {
			m.Close()
			return Deps{}, err
		}
		deps.Access = deps.Auth
	}
	return deps, nil
}

// server routes requests to the API's handlers.
type server struct {
	deps   Deps
	api    *distapi.API
	table  []route
	byKind map[distapi.Kind]map[string]route
}

// NewServer returns the hub's HTTP handler: the registry API, and with
// accounts the token service and the web UI.
func NewServer(cfg Config, deps Deps) http.Handler {
	cfg = cfg.withDefaults()
	if deps.Access == nil {
		deps.Access = access.AllowAll{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	deps = withWebhooks(cfg, withObservers(deps))
	reg := newRegistry(cfg, deps)
	if deps.Auth == nil {
		return observed(deps, frontDoor(cfg, reg))
	}
	site := web.New(web.Deps{Auth: deps.Auth, Meta: deps.Meta, Blobs: deps.Blobs, Log: deps.Log, Audit: deps.Audit,
		Webhooks: deps.Webhooks, Delete: reg.api.Delete, Retention: Retention(cfg, deps), MirrorPrefixes: mirror.Prefixes(cfg.Mirrors)})
	// Routed by hand, not by a ServeMux, which would redirect a path that
	// is not clean to its cleaned form before anyone checked it.
	return observed(deps, frontDoor(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/v2" || strings.HasPrefix(p, "/v2/") || p == distapi.SearchPath:
			reg.ServeHTTP(w, r)
		case p == auth.TokenPath:
			deps.Auth.ServeToken(w, r)
		case p == auth.JWKSPath:
			deps.Auth.ServeJWKS(w, r)
		default:
			site.ServeHTTP(w, r)
		}
	})))
}

// frontDoor is what every request passes first: it records the address
// the client came from (through the proxies cfg trusts), and keeps slow
// clients from holding the connection.
func frontDoor(cfg Config, next http.Handler) http.Handler {
	return deadline.Handler(cfg.Slow, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := access.ClientAddress(r, cfg.TrustedProxies)
		next.ServeHTTP(w, r.WithContext(access.WithClient(r.Context(), addr)))
	}))
}

// HTTPServer is the hub's http.Server: NewServer's handler with the
// timeouts cfg sets. Serve runs it; tests may run it on a listener of their own.
func HTTPServer(cfg Config, deps Deps) *http.Server {
	cfg = cfg.withDefaults()
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           NewServer(cfg, deps),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    256 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// newRegistry returns the registry API's handler.
func newRegistry(cfg Config, deps Deps) *server {
	api := newAPI(cfg, deps)
	s := &server{deps: deps, api: api, table: routes(api), byKind: map[distapi.Kind]map[string]route{}}
	for _, rt := range s.table {
		if s.byKind[rt.kind] == nil {
			s.byKind[rt.kind] = map[string]route{}
		}
		s.byKind[rt.kind][rt.method] = rt
	}
	return s
}

// newAPI is the registry API's handlers over deps.
func newAPI(cfg Config, deps Deps) *distapi.API {
	return &distapi.API{Meta: deps.Meta, Blobs: deps.Blobs, Limits: cfg.limits(), Log: deps.Log, Pulls: deps.Pulls, Audit: deps.Audit}
}

// Retention is the retention runner of a hub: it deletes through the
// registry API's path, and drops no manifest younger than the GC grace.
func Retention(cfg Config, deps Deps) *retention.Runner {
	cfg = cfg.withDefaults()
	api := newAPI(cfg, deps)
	return &retention.Runner{Meta: deps.Meta, Delete: api.Delete, DeleteUntagged: api.DeleteUntagged, Now: time.Now, Grace: cfg.GCGrace}
}

// ServeHTTP parses the path, finds the route, decides access, and runs the
// handler; every error goes out through errcode.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := s.serve(w, r); err != nil {
		discardBody(r)
		errcode.Write(w, r, s.deps.Log, err)
	}
}

// discardLimit bounds what ServeHTTP reads of a refused request's body.
const discardLimit = 32 << 20

// discardBody reads what is left of a refused request's body, up to
// discardLimit, before the error goes out. A reverse proxy in front (such
// as haproxy) that is still sending a body the hub stopped reading drops
// the hub's answer when the connection closes under it, and the client
// sees the connection end instead of the 416 for a chunk out of order
// (5 MiB on S3 storage). A body announced larger than the limit is left:
// the connection closes, as it would anyway.
func discardBody(r *http.Request) {
	if r.Body == nil || r.ContentLength > discardLimit {
		return
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, discardLimit))
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) error {
	p, err := distapi.ParsePath(r.URL.EscapedPath())
	if err != nil {
		return err
	}
	rt, ok := s.byKind[p.Kind][r.Method]
	if !ok {
		return errcode.New(errcode.Unsupported, "%s is not allowed on the %s endpoint", r.Method, p.Kind).
			WithHeader("Allow", allowed(s.table, p.Kind))
	}
	d, err := s.deps.Access.Decide(r.Context(), r, needs(rt, p, r))
	if err != nil {
		return err
	}
	for _, n := range d.Refused {
		if n.Optional && rt.kind == distapi.KindUploadStart {
			// A mount source that may not be read is treated as absent.
			q := r.URL.Query()
			q.Del("from")
			r.URL.RawQuery = q.Encode()
		}
	}
	r = r.WithContext(access.WithSubject(r.Context(), d.Subject))
	p, served, err := s.mirrored(w, r, rt, p)
	if err != nil || served {
		return err
	}
	return rt.handle(w, r, p)
}

// Serve listens on cfg.Addr and serves until ctx ends, then shuts down
// gracefully (see Config.DrainDelay). ready, if not nil, is
// called with the address once listening. The collector runs every
// cfg.GCInterval meanwhile.
func Serve(ctx context.Context, cfg Config, deps Deps, ready func(addr string)) error {
	cfg = cfg.withDefaults()
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	deps = withWebhooks(cfg, withObservers(deps)) // the Health that drain tells is the one served, the webhooks closed
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	srv := HTTPServer(cfg, deps)
	if ready != nil {
		ready(ln.Addr().String())
	}
	bgCtx, stopBackground := context.WithCancel(ctx)
	background := runBackground(bgCtx, cfg, deps)
	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = drain(srv, deps, cfg.DrainDelay, cfg.ShutdownTimeout)
	}
	stopBackground()
	background.Wait()
	deps.Webhooks.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func listen(cfg Config) (net.Listener, error) {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("hub: TLS needs both a certificate and a key (--tls-cert and --tls-key)")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("hub: listen on %s: %w", cfg.Addr, err)
	}
	return ln, nil
}

// withWebhooks makes deps' webhook dispatcher, when it has none, and has
// it hear of what the audit log records.
func withWebhooks(cfg Config, deps Deps) Deps {
	if deps.Webhooks == nil {
		opts := cfg.Webhooks
		if opts.Log == nil {
			opts.Log = deps.Log
		}
		deps.Webhooks = webhook.New(deps.Meta, opts)
		deps.Audit.Listen(deps.Webhooks.Notify)
	}
	return deps
}
