package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// maxScopes bounds the scopes one token request may ask for.
const maxScopes = 100

// tokenResponse is the token endpoint's answer: Docker's token spec (token)
// and OAuth2's (access_token) in one.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// ServeToken is the token endpoint (TokenPath). GET is Docker's token
// spec: Basic credentials (a password or a personal access token) or none,
// one or several scope parameters, offline_token=true for a refresh token.
// POST is the OAuth2 form: grant_type=password (username, password) or
// grant_type=refresh_token, scope space-separated, access_type=offline for
// a refresh token. What is granted is what was asked and is allowed: a
// partial grant, even an empty one, is not an error.
func (s *Service) ServeToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.serveToken(w, r); err != nil {
		errcode.Write(w, r, s.opts.Log, err)
	}
}

// tokenAsk is a token request read: who it proves to be and what it asks.
type tokenAsk struct {
	id      Identity
	scopes  []string
	offline bool   // a refresh token is wanted
	refresh string // the refresh token it came with
	oauth   bool
	client  string
}

func badTokenRequest(f string, args ...any) error {
	return errcode.New(errcode.Code{Name: "INVALID_REQUEST", Status: http.StatusBadRequest, Message: "invalid token request"}, f, args...)
}

// readTokenRequest authenticates a token request, GET or POST.
func (s *Service) readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenAsk, error) {
	var a tokenAsk
	var err error
	ctx, addr := r.Context(), access.Client(r)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		a.scopes, a.offline, a.client = q["scope"], q.Get("offline_token") == "true", q.Get("client_id")
		if err := s.checkService(q.Get("service")); err != nil {
			return a, err
		}
		if user, pass, ok := r.BasicAuth(); ok {
			a.id, err = s.Basic(ctx, addr, user, pass)
		} else if r.Header.Get("Authorization") != "" {
			return a, badTokenRequest("the token endpoint takes Basic credentials or none")
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return a, badTokenRequest("the form does not parse: %v", err)
		}
		f := r.PostForm
		a.oauth, a.scopes, a.offline, a.client = true, f["scope"], f.Get("access_type") == "offline", f.Get("client_id")
		if err := s.checkService(f.Get("service")); err != nil {
			return a, err
		}
		switch f.Get("grant_type") {
		case "password":
			a.id, err = s.Basic(ctx, addr, f.Get("username"), f.Get("password"))
		case "refresh_token":
			a.refresh = f.Get("refresh_token")
			a.id, err = s.refresh(ctx, addr, a.refresh)
		default:
			return a, badTokenRequest("grant_type %q: want password or refresh_token", f.Get("grant_type"))
		}
	default:
		return a, errcode.New(errcode.Unsupported, "the token endpoint answers GET and POST").WithHeader("Allow", "GET, POST")
	}
	if errors.Is(err, ErrBadCredentials) {
		return a, errcode.Wrap(errcode.Unauthorized, err)
	}
	return a, limitError(err)
}

func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) error {
	a, err := s.readTokenRequest(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	asked := parseScopes(a.scopes)
	if len(asked) > maxScopes {
		return badTokenRequest("%d scopes asked for; at most %d", len(asked), maxScopes)
	}
	granted, err := s.grant(ctx, a.id, asked)
	if err != nil {
		return err
	}
	tok, issued, err := s.issue(ctx, a.id, granted)
	if err != nil {
		return err
	}
	resp := tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(s.opts.TokenTTL / time.Second),
		IssuedAt: issued.UTC().Format(time.RFC3339)}
	if a.oauth {
		parts := make([]string, len(granted))
		for i, g := range granted {
			parts[i] = g.String()
		}
		resp.Scope = strings.Join(parts, " ")
	}
	if a.offline && !a.id.Anonymous() && a.id.Org == "" { // an organization's token is the login
		if resp.RefreshToken = a.refresh; a.refresh == "" {
			if resp.RefreshToken, err = s.newRefresh(ctx, a.id, a.client); err != nil {
				return err
			}
		}
	}
	if !a.id.Anonymous() && a.refresh == "" {
		s.opts.Audit.Record(ctx, meta.AuditEvent{Action: meta.AuditSignIn, Actor: a.id.User.Name, Addr: access.Client(r),
			Target: a.id.User.Name, Details: signInDetails(a.id, a.client)})
	}
	s.opts.Log.Debug("token issued", "user", a.id.User.Name, "granted", granted, "client", a.client)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(resp)
}

// checkService refuses a token for another service; none named is ours.
func (s *Service) checkService(service string) error {
	if service != "" && service != s.opts.Service {
		return badTokenRequest("service %q is not this hub (%q)", service, s.opts.Service)
	}
	return nil
}

// signInDetails are what the audit log records of a sign-in at the token
// service: through it, with which client, and which organization token.
func signInDetails(id Identity, client string) map[string]string {
	d := map[string]string{"via": "token", "client": clip(client, 100)}
	if id.Org != "" {
		d["org_token"] = strconv.FormatInt(id.Cred, 10)
	}
	return d
}
