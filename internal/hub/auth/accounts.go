package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Scope is what a personal access token may do. "" (a password, a web
// session) is everything the user may do.
type Scope string

const (
	ScopeRead            Scope = "read"
	ScopeReadWrite       Scope = "read-write"
	ScopeReadWriteDelete Scope = "read-write-delete"
)

// ParseScope reads a token scope as the CLI and the web give it.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case ScopeRead, ScopeReadWrite, ScopeReadWriteDelete:
		return Scope(s), nil
	}
	return "", fmt.Errorf("token scope %q: want read, read-write or read-write-delete: %w", s, errdefs.ErrInvalidArgument)
}

// Allows reports whether the scope permits action.
func (sc Scope) Allows(a access.Action) bool {
	switch a {
	case access.Push:
		return sc == "" || sc == ScopeReadWrite || sc == ScopeReadWriteDelete
	case access.Delete, access.ManageNamespace:
		return sc == "" || sc == ScopeReadWriteDelete
	}
	return true
}

// Identity is who a request proved to be.
type Identity struct {
	User  meta.User // Name "" when anonymous; an organization's name for its token
	Scope Scope     // what the credential used may do
	Cred  int64     // the credential used; 0 for a password or nobody
	Org   string    // the organization whose access token was used, "" none
}

// Anonymous reports whether no one signed in.
func (id Identity) Anonymous() bool { return id.User.Name == "" }

// Subject is the identity as the router sees it.
func (id Identity) Subject() access.Subject {
	return access.Subject{User: id.User.Name, Admin: id.User.Admin}
}

// ErrBadCredentials is a wrong name, password or token; the same error
// whichever it was.
var ErrBadCredentials = fmt.Errorf("incorrect username, password or token: %w", errdefs.ErrUnauthorized)

// Secret prefixes tell what a secret is at a glance (and to secret scanners).
const (
	tokenPrefix   = "strata_pat_"
	refreshPrefix = "strata_rt_"
	sessionPrefix = "strata_ses_"
)

func newSecret(prefix string) string {
	return prefix + strings.ToLower(rand.Text()+rand.Text())
}

// CreateUser makes an account, as an administrator does. The hub's first
// account is an administrator.
func (s *Service) CreateUser(ctx context.Context, name, password string, admin bool) error {
	return s.createUser(ctx, name, password, admin, false)
}

// SignUp makes an account for a visitor of the website: the hub's first
// account (its administrator), or any while an administrator keeps
// sign-up open. ErrForbidden when it is closed.
func (s *Service) SignUp(ctx context.Context, name, password string) error {
	return s.createUser(ctx, name, password, false, true)
}

func (s *Service) createUser(ctx context.Context, name, password string, admin, selfService bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.hash(password)
	if err != nil {
		return err
	}
	return s.meta.CreateUser(ctx, meta.User{Name: name, PasswordHash: hash, Admin: admin,
		DefaultVisibility: meta.Public, CreatedAt: s.opts.Now()}, selfService)
}

// SetPassword changes a user's password, which signs them out everywhere:
// web sessions, refresh tokens and bearer tokens made with the old one.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.hash(password)
	if err != nil {
		return err
	}
	return s.meta.UpdateUser(ctx, name, meta.UserChange{PasswordHash: &hash})
}

// Password checks a user's password, rate limited per client address
// (addr) and per name. A disabled user's password does not check.
func (s *Service) Password(ctx context.Context, addr, name, password string) (Identity, error) {
	return s.limited(ctx, attempt{addr: addr, user: name}, func() (Identity, error) {
		u, err := s.meta.User(ctx, name)
		if errdefs.IsNotFound(err) {
			s.hasher.check(password, s.hasher.dummy(), s.opts.Now())
			return Identity{}, ErrBadCredentials
		}
		if err != nil {
			return Identity{}, err
		}
		if !s.hasher.check(password, u.PasswordHash, s.opts.Now()) || u.Disabled {
			return Identity{}, ErrBadCredentials
		}
		return Identity{User: u}, nil
	})
}

// Basic checks what a client sent as username and password: a personal
// access token, an organization's token (with its name), or the password.
func (s *Service) Basic(ctx context.Context, addr, name, secret string) (Identity, error) {
	if strings.HasPrefix(secret, orgTokenPrefix) {
		return s.limited(ctx, attempt{addr: addr}, func() (Identity, error) { return s.orgToken(ctx, name, secret) })
	}
	if !strings.HasPrefix(secret, tokenPrefix) {
		return s.Password(ctx, addr, name, secret)
	}
	return s.limited(ctx, attempt{addr: addr}, func() (Identity, error) {
		id, err := s.credential(ctx, secret, meta.KindToken)
		if err == nil && id.User.Name != name {
			err = ErrBadCredentials
		}
		return id, err
	})
}

// credential finds a live credential of kind by its secret, with its user.
func (s *Service) credential(ctx context.Context, secret string, kind meta.CredentialKind) (Identity, error) {
	c, err := s.meta.CredentialByHash(ctx, secretHash(secret))
	if errdefs.IsNotFound(err) || (err == nil && (c.Kind != kind || c.Expired(s.opts.Now()))) {
		return Identity{}, ErrBadCredentials
	}
	if err != nil {
		return Identity{}, err
	}
	u, err := s.meta.User(ctx, c.User)
	if errdefs.IsNotFound(err) || (err == nil && u.Disabled) {
		return Identity{}, ErrBadCredentials
	}
	if err != nil {
		return Identity{}, err
	}
	if now := s.opts.Now(); now.Sub(c.LastUsedAt) > time.Minute {
		s.meta.TouchCredential(ctx, c.ID, now)
	}
	return Identity{User: u, Scope: Scope(c.Scope), Cred: c.ID}, nil
}

// stillValid re-checks, for a bearer token, that its user may still act,
// is the same generation (no new password, not disabled since, not made
// again), and that the credential it came from is not revoked.
func (s *Service) stillValid(ctx context.Context, tok *claims) (Identity, error) {
	if tok.OrgToken != 0 {
		return s.orgTokenStillValid(ctx, tok.Subject, tok.OrgToken)
	}
	u, err := s.meta.User(ctx, tok.Subject)
	if errdefs.IsNotFound(err) || (err == nil && (u.Disabled || u.Generation != tok.Gen)) {
		return Identity{}, ErrBadCredentials
	}
	if err != nil {
		return Identity{}, err
	}
	id := Identity{User: u, Cred: tok.Cred}
	if tok.Cred != 0 {
		c, err := s.meta.CredentialByID(ctx, tok.Cred)
		if errdefs.IsNotFound(err) || (err == nil && (c.User != u.Name || c.Expired(s.opts.Now()))) {
			return Identity{}, ErrBadCredentials
		}
		if err != nil {
			return Identity{}, err
		}
		id.Scope = Scope(c.Scope)
	}
	return id, nil
}

// CreateToken makes a personal access token for user and returns its
// secret, which is shown once and stored only as a hash. expires zero: never.
func (s *Service) CreateToken(ctx context.Context, user, name string, scope Scope, expires time.Time) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", fmt.Errorf("a token needs a name of 1 to 100 characters: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := ParseScope(string(scope)); err != nil {
		return "", err
	}
	now := s.opts.Now()
	if !expires.IsZero() && !expires.After(now) {
		return "", fmt.Errorf("the token's expiry date is in the past: %w", errdefs.ErrInvalidArgument)
	}
	secret := newSecret(tokenPrefix)
	_, err := s.meta.CreateCredential(ctx, meta.Credential{User: user, Kind: meta.KindToken, Name: name,
		Hash: secretHash(secret), Scope: string(scope), CreatedAt: now, ExpiresAt: expires})
	return secret, err
}

// NewSession signs a user in on the web and returns the cookie's secret.
func (s *Service) NewSession(ctx context.Context, user, browser string, ttl time.Duration) (string, error) {
	secret := newSecret(sessionPrefix)
	now := s.opts.Now()
	_, err := s.meta.CreateCredential(ctx, meta.Credential{User: user, Kind: meta.KindSession, Name: clip(browser, 200),
		Hash: secretHash(secret), CreatedAt: now, ExpiresAt: now.Add(ttl)})
	return secret, err
}

// Session returns who a session cookie belongs to.
func (s *Service) Session(ctx context.Context, secret string) (Identity, error) {
	if !strings.HasPrefix(secret, sessionPrefix) {
		return Identity{}, ErrBadCredentials
	}
	return s.credential(ctx, secret, meta.KindSession)
}

// EndSession signs a browser out.
func (s *Service) EndSession(ctx context.Context, id Identity) error {
	err := s.meta.DeleteCredential(ctx, id.User.Name, id.Cred)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// newRefresh makes an OAuth2 refresh token for id, limited as id is.
func (s *Service) newRefresh(ctx context.Context, id Identity, client string) (string, error) {
	secret := newSecret(refreshPrefix)
	now := s.opts.Now()
	c := meta.Credential{User: id.User.Name, Kind: meta.KindRefresh, Name: clip(client, 100), Hash: secretHash(secret),
		Scope: string(id.Scope), Parent: id.Cred, CreatedAt: now}
	if id.Cred == 0 {
		c.ExpiresAt = now.Add(s.opts.RefreshTTL)
	} else if parent, err := s.meta.CredentialByID(ctx, id.Cred); err == nil {
		c.ExpiresAt = parent.ExpiresAt
	}
	_, err := s.meta.CreateCredential(ctx, c)
	return secret, err
}

// refresh checks a refresh token, rate limited like a password.
func (s *Service) refresh(ctx context.Context, addr, secret string) (Identity, error) {
	return s.limited(ctx, attempt{addr: addr}, func() (Identity, error) {
		if !strings.HasPrefix(secret, refreshPrefix) {
			return Identity{}, ErrBadCredentials
		}
		return s.credential(ctx, secret, meta.KindRefresh)
	})
}

// clip cuts what a client says about itself to n bytes, at a rune boundary.
func clip(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
