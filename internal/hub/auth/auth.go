// Package auth is the hub's accounts and access control: who a request is
// (a password, a personal access token, a refresh token, a web session or a
// signed bearer token), what they may do (the rules in policy.go), and
// Docker's token service (the realm of the WWW-Authenticate challenge).
//
// The rules, in one place:
//
//   - a public repository may be pulled by anyone, anonymous included;
//   - a private one by its owner, its collaborators (read or write) and
//     administrators;
//   - the owner pushes and deletes, a write collaborator pushes, an
//     administrator does everything; a user may create repositories only in
//     their own namespace (the first component of the name) and in those
//     of the organizations they own;
//   - an organization owns the namespace of its name: its owners do
//     everything there (and make its repositories); its other members get
//     what their teams are granted on each repository (read pulls, write
//     pushes too, admin deletes and manages), besides collaborators' roles;
//   - a personal access token may do no more than its scope (read,
//     read-write, read-write-delete) allows;
//   - an organization access token acts as its organization: it pulls
//     public repositories and its organization's, and pushes there when
//     read-write; it never deletes;
//   - a repository that may not be read answers exactly as one that does
//     not exist.
//
// Bearer tokens are JWTs (ES256) signed with keys kept in meta, so that
// every hub node signs with the same key and accepts every node's tokens;
// a key id is the key's JWK thumbprint (RFC 7638). Keys rotate with an
// overlap, and the JWKS document publishes them (keyring.go). A token is checked against the rules again on every request,
// so revoking a credential, disabling a user or making a repository private
// takes effect at once, not when the token expires.
package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	// Service names the hub in challenges and is the tokens' audience. Default "strata-hub".
	Service string
	// URL is the hub's public URL (https://hub.example.com); empty: each
	// request's own scheme and Host.
	URL string
	// KeyFile is where a hub kept its signing key (PEM) before the keys
	// moved into meta: a hub with no key in meta takes it from there, so
	// tokens it issued stay good. Nothing is written to it.
	KeyFile string
	// KeyRotation is how long a signing key signs before the next takes
	// over (default 30 days; < 0 never); KeyPublish is how long the next
	// key is published (in the JWKS) before it signs (default 1 hour).
	KeyRotation time.Duration
	KeyPublish  time.Duration
	// TokenTTL is how long a bearer token lasts. Default 5 minutes.
	TokenTTL time.Duration
	// RefreshTTL is how long a refresh token made with a password lasts. Default 90 days.
	RefreshTTL time.Duration
	// Failures is how many failed sign-ins a client address may have in a
	// burst before being slowed to one per FailureEvery; UserFailures is
	// the same for a user's name, counted only from addresses the user
	// never signed in from (see limit.go). Defaults 10, 6 seconds and 30.
	Failures     int
	FailureEvery time.Duration
	UserFailures int
	// HashParams tune argon2id; nil: defaults (tests make them cheap).
	HashParams *HashParams
	Now        func() time.Time
	Log        *slog.Logger
	// Mirrors names the repositories of the hub's pull-through cache; nil: none.
	Mirrors access.Mirrors
	// Audit records sign-ins (nil: not recorded).
	Audit *audit.Recorder
}

// Service authenticates requests and decides what they may do.
type Service struct {
	meta   meta.Store
	opts   Options
	keys   *keyring
	secret []byte // the hub's, for Secret
	hasher *hasher
}

// DefaultService is the challenge's service when none is configured.
const DefaultService = "strata-hub"

// New returns the service over a metadata store, with the signing keys
// it keeps (a hub's first is made, or taken from opts.KeyFile).
func New(ctx context.Context, m meta.Store, opts Options) (*Service, error) {
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 5 * time.Minute
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = 90 * 24 * time.Hour
	}
	if opts.Failures <= 0 {
		opts.Failures = 10
	}
	if opts.FailureEvery <= 0 {
		opts.FailureEvery = 6 * time.Second
	}
	if opts.UserFailures <= 0 {
		opts.UserFailures = 3 * opts.Failures
	}
	if opts.KeyRotation == 0 {
		opts.KeyRotation = 30 * 24 * time.Hour
	}
	if opts.KeyPublish <= 0 {
		opts.KeyPublish = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.URL = strings.TrimRight(opts.URL, "/")
	s := &Service{meta: m, opts: opts, hasher: newHasher(opts.HashParams)}
	s.keys = &keyring{meta: m, opts: &s.opts}
	if err := s.keys.ensure(ctx, opts.KeyFile); err != nil {
		return nil, err
	}
	var err error
	if s.secret, err = hubSecret(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Meta is the store the service works on.
func (s *Service) Meta() meta.Store { return s.meta }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// ServiceName is the service named in challenges and tokens.
func (s *Service) ServiceName() string { return s.opts.Service }

// BaseURL is the hub's public URL as r reached it (or as configured).
func (s *Service) BaseURL(r *http.Request) string {
	if s.opts.URL != "" {
		return s.opts.URL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Secure reports whether the hub is reached over https (cookies are then Secure).
func (s *Service) Secure(r *http.Request) bool {
	return strings.HasPrefix(s.BaseURL(r), "https://")
}

// SignupOpen reports whether anyone may make an account on the web: on a
// hub with no account yet (the first is its administrator), or while an
// administrator keeps sign-up open.
func (s *Service) SignupOpen(ctx context.Context) (bool, error) {
	v, err := s.meta.Setting(ctx, meta.SettingSignup)
	if err != nil || v == "on" {
		return v == "on", err
	}
	u, err := s.meta.Usage(ctx)
	return u.Users == 0, err
}

// SetSignup opens or closes sign-up on the web.
func (s *Service) SetSignup(ctx context.Context, open bool) error {
	v := "on"
	if !open {
		v = "off"
	}
	return s.meta.SetSetting(ctx, meta.SettingSignup, v)
}

// Audit is the recorder the service writes sign-ins to (nil: none).
func (s *Service) Audit() *audit.Recorder { return s.opts.Audit }
