package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/hub/errcode"
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

func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) error {
	var (
		id       Identity
		err      error
		scopes   []string
		offline  bool
		refresh  string
		oauth    = r.Method == http.MethodPost
		client   string
		addr     = ClientAddr(r)
		ctx      = r.Context()
		problemf = func(f string, args ...any) error {
			return errcode.New(errcode.Code{Name: "INVALID_REQUEST", Status: http.StatusBadRequest, Message: "invalid token request"}, f, args...)
		}
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		scopes, offline, client = q["scope"], q.Get("offline_token") == "true", q.Get("client_id")
		if err := s.checkService(q.Get("service")); err != nil {
			return err
		}
		if user, pass, ok := r.BasicAuth(); ok {
			id, err = s.Basic(ctx, addr, user, pass)
		} else if r.Header.Get("Authorization") != "" {
			return problemf("the token endpoint takes Basic credentials or none")
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return problemf("the form does not parse: %v", err)
		}
		f := r.PostForm
		scopes, offline, client = f["scope"], f.Get("access_type") == "offline", f.Get("client_id")
		if err := s.checkService(f.Get("service")); err != nil {
			return err
		}
		switch f.Get("grant_type") {
		case "password":
			id, err = s.Basic(ctx, addr, f.Get("username"), f.Get("password"))
		case "refresh_token":
			refresh = f.Get("refresh_token")
			id, err = s.refresh(ctx, addr, refresh)
		default:
			return problemf("grant_type %q: want password or refresh_token", f.Get("grant_type"))
		}
	default:
		return errcode.New(errcode.Unsupported, "the token endpoint answers GET and POST").WithHeader("Allow", "GET, POST")
	}
	if errors.Is(err, ErrBadCredentials) {
		return errcode.Wrap(errcode.Unauthorized, err)
	}
	if err != nil {
		return limitError(err)
	}
	asked := parseScopes(scopes)
	if len(asked) > maxScopes {
		return problemf("%d scopes asked for; at most %d", len(asked), maxScopes)
	}
	granted, err := s.grant(ctx, id, asked)
	if err != nil {
		return err
	}
	tok, issued, err := s.issue(id, granted)
	if err != nil {
		return err
	}
	resp := tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(s.opts.TokenTTL / time.Second),
		IssuedAt: issued.UTC().Format(time.RFC3339)}
	if oauth {
		parts := make([]string, len(granted))
		for i, g := range granted {
			parts[i] = g.String()
		}
		resp.Scope = strings.Join(parts, " ")
	}
	if offline && !id.Anonymous() {
		if resp.RefreshToken = refresh; refresh == "" {
			if resp.RefreshToken, err = s.newRefresh(ctx, id, client); err != nil {
				return err
			}
		}
	}
	s.opts.Log.Debug("token issued", "user", id.User.Name, "granted", granted, "client", client)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(resp)
}

// checkService refuses a token for another service; none named is ours.
func (s *Service) checkService(service string) error {
	if service != "" && service != s.opts.Service {
		return errcode.New(errcode.Code{Name: "INVALID_REQUEST", Status: http.StatusBadRequest, Message: "invalid token request"},
			"service %q is not this hub (%q)", service, s.opts.Service)
	}
	return nil
}
