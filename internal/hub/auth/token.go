package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
)

// ResourceActions is one entry of a token's access claim (Docker's token spec).
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// String is the entry as a scope: repository:alice/app:pull,push.
func (ra ResourceActions) String() string {
	return ra.Type + ":" + ra.Name + ":" + strings.Join(ra.Actions, ",")
}

// claims are a bearer token's.
type claims struct {
	jwt.RegisteredClaims
	Access []ResourceActions `json:"access"`
	// Cred is the credential the token was made with (0: a password), so
	// that revoking it ends its tokens at once (ids are never reused).
	Cred int64 `json:"cid,omitempty"`
	// Gen is the user's generation when the token was made: a new
	// password, disabling, or the user made again under the same name
	// changes it, and ends the token.
	Gen int64 `json:"gen,omitempty"`
	// OrgToken is the organization's token the token was made with (its
	// subject is the organization); revoking it ends the token at once.
	OrgToken int64 `json:"oat,omitempty"`
}

// has reports whether the token grants need.
func (c *claims) has(n access.Need) bool {
	typ, name, action := "repository", n.Repository, string(n.Action)
	switch n.Action {
	case access.Ping:
		return true
	case access.Catalog:
		typ, name, action = "registry", "catalog", "*"
	case access.Search: // docker search asks for registry:catalog:search
		typ, name, action = "registry", "catalog", "search"
	}
	for _, ra := range c.Access {
		if ra.Type == typ && ra.Name == name && (slices.Contains(ra.Actions, action) || typ == "registry" && slices.Contains(ra.Actions, "*")) {
			return true
		}
	}
	return false
}

// repositoryActions are the actions a repository scope may ask for, in the order tokens list them.
var repositoryActions = []access.Action{access.Pull, access.Push, access.Delete}

// ParseScope reads one scope parameter ("repository:alice/app:pull,push"
// or "registry:catalog:*"). A scope the hub does not know is not an error:
// it is granted nothing. A space-separated list (OAuth2's form) gives several.
func parseScopes(params []string) []ResourceActions {
	var out []ResourceActions
	for _, p := range params {
		for _, s := range strings.Fields(p) {
			typ, rest, ok1 := strings.Cut(s, ":")
			i := strings.LastIndex(rest, ":")
			if !ok1 || i < 0 {
				continue
			}
			name, actions := rest[:i], strings.Split(rest[i+1:], ",")
			typ, _, _ = strings.Cut(typ, "(") // repository(plugin) is a repository
			out = append(out, ResourceActions{Type: typ, Name: name, Actions: actions})
		}
	}
	return out
}

// grant is the part of the asked scopes that id may have: the intersection
// of what was asked and what the rules allow. Nothing allowed is not an
// error; an entry with no action left is dropped.
func (s *Service) grant(ctx context.Context, id Identity, asked []ResourceActions) ([]ResourceActions, error) {
	var out []ResourceActions
	for _, ra := range asked {
		var granted []string
		switch {
		case ra.Type == "registry" && ra.Name == "catalog":
			for _, a := range []string{"*", "search"} {
				if slices.Contains(ra.Actions, a) {
					granted = append(granted, a)
				}
			}
		case ra.Type == "repository" && distapi.CheckName(ra.Name) == nil:
			for _, a := range repositoryActions {
				if !slices.Contains(ra.Actions, string(a)) && !slices.Contains(ra.Actions, "*") {
					continue
				}
				ok, err := s.May(ctx, id, ra.Name, a)
				if err != nil {
					return nil, err
				}
				if ok {
					granted = append(granted, string(a))
				}
			}
		}
		if len(granted) > 0 {
			out = mergeGrant(out, ResourceActions{Type: ra.Type, Name: ra.Name, Actions: granted})
		}
	}
	return out, nil
}

// mergeGrant adds ra to grants, joining it with an entry for the same resource.
func mergeGrant(grants []ResourceActions, ra ResourceActions) []ResourceActions {
	for i, g := range grants {
		if g.Type == ra.Type && g.Name == ra.Name {
			for _, a := range ra.Actions {
				if !slices.Contains(g.Actions, a) {
					grants[i].Actions = append(grants[i].Actions, a)
				}
			}
			return grants
		}
	}
	return append(grants, ra)
}

// issue signs a bearer token for id with the granted access.
func (s *Service) issue(ctx context.Context, id Identity, granted []ResourceActions) (string, time.Time, error) {
	key, err := s.keys.signer(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.opts.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.opts.Service, Subject: id.User.Name, Audience: jwt.ClaimStrings{s.opts.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.TokenTTL)), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			IssuedAt: jwt.NewNumericDate(now), ID: strings.ToLower(newSecret("")),
		},
		Access: granted, Cred: id.Cred, Gen: id.User.Generation,
	}
	if id.Org != "" {
		c.Cred, c.OrgToken = 0, id.Cred
	}
	if c.Access == nil {
		c.Access = []ResourceActions{}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = key.ID
	signed, err := t.SignedString(key.private)
	return signed, now, err
}

// verify checks a bearer token's signature, key, issuer, audience and
// times. Keys that cannot be read are that error, not a bad token.
func (s *Service) verify(ctx context.Context, token string) (*claims, error) {
	var c claims
	var keysErr error
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, err := s.keys.verifier(ctx, kid)
		if err != nil && !errors.Is(err, errUnknownKey) {
			keysErr = err
		}
		return pub, err
	}, jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(s.opts.Service),
		jwt.WithAudience(s.opts.Service), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.opts.Now),
		jwt.WithLeeway(5*time.Second))
	if keysErr != nil {
		return nil, keysErr
	}
	if err != nil {
		return nil, fmt.Errorf("bearer token: %v: %w", err, errdefs.ErrUnauthorized)
	}
	return &c, nil
}
