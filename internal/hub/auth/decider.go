package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/errcode"
)

// TokenPath is where the token service answers, under the hub's URL.
const TokenPath = "/auth/token"

// Decide implements access.Decider: a request may carry a bearer token
// from the token service, or Basic credentials (a password or a personal
// access token), or nothing (anonymous). Every need must be in the token
// and allowed by the rules now. A refusal is a 401 with a challenge that
// says where to get a token; it reads the same whether the repository
// exists or not.
func (s *Service) Decide(ctx context.Context, r *http.Request, needs []access.Need) (access.Decision, error) {
	id, tok, err := s.requestIdentity(ctx, r)
	if err != nil {
		return access.Decision{}, err
	}
	d := access.Decision{Subject: id.Subject()}
	for _, n := range needs {
		ok := tok == nil || tok.has(n)
		if ok && n.Action == access.Ping {
			ok = tok != nil || !id.Anonymous()
		} else if ok {
			if ok, err = s.May(ctx, id, n.Repository, n.Action); err != nil {
				return d, err
			}
		}
		if ok {
			continue
		}
		if n.Optional {
			d.Refused = append(d.Refused, n)
			continue
		}
		return d, s.challenge(r, needs, tok != nil || !id.Anonymous(), "")
	}
	return d, nil
}

// requestIdentity is who the request's Authorization header proves it is,
// and its token's claims when it carries one. Bad credentials are a 401.
func (s *Service) requestIdentity(ctx context.Context, r *http.Request) (Identity, *claims, error) {
	h := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return Identity{}, nil, nil
	case strings.EqualFold(scheme, "Bearer"):
		c, err := s.verify(ctx, strings.TrimSpace(value))
		if err != nil && !errors.Is(err, errdefs.ErrUnauthorized) {
			return Identity{}, nil, err // the keys could not be read
		}
		if err != nil {
			return Identity{}, nil, s.challenge(r, nil, true, "invalid_token")
		}
		if c.Subject == "" {
			return Identity{}, c, nil
		}
		id, err := s.stillValid(ctx, c)
		if errors.Is(err, ErrBadCredentials) {
			return Identity{}, nil, s.challenge(r, nil, true, "invalid_token")
		}
		return id, c, err
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Identity{}, nil, s.challenge(r, nil, true, "invalid_request")
		}
		id, err := s.Basic(ctx, access.Client(r), user, pass)
		if errors.Is(err, ErrBadCredentials) {
			return Identity{}, nil, s.challenge(r, nil, true, "invalid_token")
		}
		return id, nil, limitError(err)
	}
	return Identity{}, nil, s.challenge(r, nil, true, "invalid_request")
}

// challenge is the 401 that tells a client where to get a token for needs.
// With credentials that did not suffice, it says the scope was
// insufficient, as distribution's registry does.
func (s *Service) challenge(r *http.Request, needs []access.Need, hadCredentials bool, problem string) error {
	params := fmt.Sprintf(`realm=%q,service=%q`, s.BaseURL(r)+TokenPath, s.opts.Service)
	if scope := challengeScope(needs); scope != "" {
		params += fmt.Sprintf(`,scope=%q`, scope)
	}
	code, msg := errcode.Unauthorized, "authentication required"
	switch {
	case problem != "":
		params += fmt.Sprintf(`,error=%q`, problem)
		msg = "the credentials or token sent are not valid: log in again"
	case hadCredentials:
		params += `,error="insufficient_scope"`
		code, msg = errcode.InsufficientScope, "requested access to the resource is denied"
	}
	e := errcode.New(code, "%s", msg).WithHeader("WWW-Authenticate", "Bearer "+params)
	e.Err = errdefs.ErrUnauthorized
	return e
}

// challengeScope writes the needs (optional ones aside) as scopes.
func challengeScope(needs []access.Need) string {
	var grants []ResourceActions
	for _, n := range needs {
		switch {
		case n.Optional || n.Action == access.Ping:
		case n.Action == access.Catalog:
			grants = mergeGrant(grants, ResourceActions{Type: "registry", Name: "catalog", Actions: []string{"*"}})
		case n.Action == access.Search:
			grants = mergeGrant(grants, ResourceActions{Type: "registry", Name: "catalog", Actions: []string{"search"}})
		default:
			grants = mergeGrant(grants, ResourceActions{Type: "repository", Name: n.Repository, Actions: []string{string(n.Action)}})
		}
	}
	var scopes []string
	for _, g := range grants {
		if g.Type == "repository" && slices.Contains(g.Actions, string(access.Push)) && !slices.Contains(g.Actions, string(access.Pull)) {
			g.Actions = append([]string{string(access.Pull)}, g.Actions...) // clients push and pull together
		}
		scopes = append(scopes, g.String())
	}
	return strings.Join(scopes, " ")
}

// limitError turns a rate-limited sign-in into a 429 with Retry-After.
func limitError(err error) error {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		secs := int(rl.RetryAfter.Seconds() + 0.999)
		return errcode.Wrap(errcode.TooManyRequests, err).WithHeader("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	return err
}
