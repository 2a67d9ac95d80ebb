package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/errdefs"
)

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	scheme string            // "basic" or "bearer", lower case
	params map[string]string // realm, service, scope, error, ...
}

// parseChallenge reads `Bearer realm="https://auth/token",service="reg",scope="a,b"`.
// Values may be quoted (with \-escapes) or bare tokens.
func parseChallenge(header string) (*challenge, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if scheme == "" {
		return nil, fmt.Errorf("empty WWW-Authenticate header")
	}
	ch := &challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, fmt.Errorf("malformed WWW-Authenticate header %q", header)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			if i >= len(after) {
				return nil, fmt.Errorf("unterminated quote in WWW-Authenticate header %q", header)
			}
			val, rest = b.String(), after[i+1:]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			rest = "," + rest
		}
		ch.params[key] = strings.TrimSpace(val)
		rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ","))
	}
	if ch.scheme == "bearer" && ch.params["realm"] == "" {
		return nil, fmt.Errorf("bearer challenge without a realm: %q", header)
	}
	return ch, nil
}

// token is a bearer token and when to stop using it.
type token struct {
	value   string
	expires time.Time
}

// tokenResponse is the token endpoint's answer (Docker's token spec; OAuth2
// servers answer access_token).
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
}

// defaultTokenLife is what the token spec says to assume when expires_in is absent.
const defaultTokenLife = 60 * time.Second

// scopeKey names a set of scopes independently of their order.
func scopeKey(scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), " ")
}

// bearer returns a token for scopes, from the cache or the token endpoint.
// The host's lock is held while fetching, so concurrent requests for the same
// repository wait for one token rather than each asking for their own.
func (c *Client) bearer(ctx context.Context, h *host, scopes []string) (string, error) {
	key := scopeKey(scopes)
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.tokens[key]; ok && c.now().Before(t.expires) {
		return t.value, nil
	}
	cred, err := c.credential(h.domain)
	if err != nil {
		return "", err
	}
	resp, err := c.fetchToken(ctx, h.challenge, h.domain, cred, scopes)
	if err != nil {
		return "", err
	}
	h.tokens[key] = resp.token(c.now())
	return h.tokens[key].value, nil
}

// dropToken forgets a token the registry refused, so the next request gets a new one.
func (h *host) dropToken(scopes []string) {
	h.mu.Lock()
	delete(h.tokens, scopeKey(scopes))
	h.mu.Unlock()
}

// token is the response as a token issued at now (or at the registry's
// issued_at, when that is a little earlier).
func (r tokenResponse) token(now time.Time) *token {
	v := r.Token
	if v == "" {
		v = r.AccessToken
	}
	life := time.Duration(r.ExpiresIn) * time.Second
	if life <= 0 {
		life = defaultTokenLife
	}
	issued := now
	if t, err := time.Parse(time.RFC3339, r.IssuedAt); err == nil && t.Before(issued) && issued.Sub(t) < life {
		issued = t
	}
	// Refresh a little early, so a request does not leave with a token that
	// expires on the way.
	return &token{value: v, expires: issued.Add(life - life/10)}
}

func (c *Client) credential(domain string) (credentials.Credential, error) {
	if c.opts.Credentials == nil {
		return credentials.Credential{}, nil
	}
	cred, err := c.opts.Credentials(domain)
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("credentials for %s: %w", domain, err)
	}
	return cred, nil
}

// fetchToken asks the challenge's realm for a token. With an identity token
// it uses OAuth2's refresh_token grant (POST); otherwise a GET, with Basic
// credentials when there are any.
func (c *Client) fetchToken(ctx context.Context, ch *challenge, domain string, cred credentials.Credential, scopes []string) (*tokenResponse, error) {
	realm, err := url.Parse(ch.params["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return nil, fmt.Errorf("registry %s names an invalid token realm %q", domain, ch.params["realm"])
	}
	var req *http.Request
	if cred.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cred.IdentityToken},
			"service": {ch.params["service"]}, "client_id": {c.opts.UserAgent}}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		q := realm.Query()
		if s := ch.params["service"]; s != "" {
			q.Set("service", s)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		realm.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
		if err == nil && (cred.Username != "" || cred.Password != "") {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.clientFor(domain).Do(req)
	if err != nil {
		return nil, explainNetError(realm.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := statusError(resp, "get a token from "+realm.Host)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			who := "anonymous access"
			if cred.Username != "" {
				who = fmt.Sprintf("the credentials of %q", cred.Username)
			} else if cred.IdentityToken != "" {
				who = "the saved identity token"
			}
			return nil, fmt.Errorf("%w: registry %s refused %s", errdefs.ErrUnauthorized, domain, who)
		}
		return nil, err
	}
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token from %s is not JSON: %v", realm.Host, err)
	}
	if tr.Token == "" && tr.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint %s answered without a token", realm.Host)
	}
	return &tr, nil
}

func (c *Client) clientFor(domain string) *http.Client {
	if c.IsInsecure(domain) {
		return c.insecure
	}
	return c.http
}
