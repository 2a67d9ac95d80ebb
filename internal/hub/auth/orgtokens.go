package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// orgTokenPrefix starts an organization's access token.
const orgTokenPrefix = "strata_oat_"

// CreateOrgToken makes an access token of organization org (for CI) and
// returns its secret, shown once and stored only as a hash. It logs in
// with the organization's name as the user name, as Docker Hub's do, and
// may pull (read) or also push (read-write) in the organization's
// namespace, never delete. expires zero: never.
func (s *Service) CreateOrgToken(ctx context.Context, org, name, createdBy string, scope Scope, expires time.Time) (string, int64, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", 0, fmt.Errorf("a token needs a name of 1 to 100 characters: %w", errdefs.ErrInvalidArgument)
	}
	if scope != ScopeRead && scope != ScopeReadWrite {
		return "", 0, fmt.Errorf("an organization's token scope %q: want read or read-write: %w", scope, errdefs.ErrInvalidArgument)
	}
	now := s.opts.Now()
	if !expires.IsZero() && !expires.After(now) {
		return "", 0, fmt.Errorf("the token's expiry date is in the past: %w", errdefs.ErrInvalidArgument)
	}
	secret := newSecret(orgTokenPrefix)
	id, err := s.meta.CreateOrgToken(ctx, meta.OrgToken{Org: org, Name: name, Hash: secretHash(secret), Scope: string(scope),
		CreatedBy: createdBy, CreatedAt: now, ExpiresAt: expires})
	return secret, id, err
}

// orgToken finds a live token of organization org by its secret.
func (s *Service) orgToken(ctx context.Context, org, secret string) (Identity, error) {
	t, err := s.meta.OrgTokenByHash(ctx, secretHash(secret))
	if errdefs.IsNotFound(err) || (err == nil && (t.Org != org || t.Expired(s.opts.Now()))) {
		return Identity{}, ErrBadCredentials
	}
	if err != nil {
		return Identity{}, err
	}
	if now := s.opts.Now(); now.Sub(t.LastUsedAt) > time.Minute {
		s.meta.TouchOrgToken(ctx, t.ID, now)
	}
	return orgIdentity(t), nil
}

// orgIdentity is who an organization's token acts as: the organization.
func orgIdentity(t meta.OrgToken) Identity {
	return Identity{User: meta.User{Name: t.Org}, Org: t.Org, Scope: Scope(t.Scope), Cred: t.ID}
}

// orgTokenStillValid re-checks, for a bearer token made with
// organization token id, that the token is neither revoked nor expired.
func (s *Service) orgTokenStillValid(ctx context.Context, org string, id int64) (Identity, error) {
	tokens, err := s.meta.OrgTokens(ctx, org)
	if err != nil {
		return Identity{}, err
	}
	i := slices.IndexFunc(tokens, func(t meta.OrgToken) bool { return t.ID == id })
	if i < 0 || tokens[i].Expired(s.opts.Now()) {
		return Identity{}, ErrBadCredentials
	}
	return orgIdentity(tokens[i]), nil
}
