package remote

import (
	"context"
	"fmt"
	"net/http"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/errdefs"
)

// Login checks cred against domain's registry, as `docker login` does: it
// asks for the API root with them (getting a token first when the registry
// uses token auth). It returns nil when the registry accepts them, or needs
// none; errdefs.ErrUnauthorized when it refuses them.
func (c *Client) Login(ctx context.Context, domain string, cred credentials.Credential) error {
	opts := c.opts
	opts.Credentials = func(string) (credentials.Credential, error) { return cred, nil }
	lc := &Client{opts: opts, http: c.http, insecure: c.insecure, hosts: map[string]*host{}}
	r := &Repository{c: lc, h: lc.host(domain), Domain: domain}
	resp, err := r.do(ctx, &request{method: http.MethodGet, path: "/v2/"})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w: registry %s refused the username or password", errdefs.ErrUnauthorized, domain)
	}
	_, err = expect(resp, "log in to "+domain, http.StatusOK)
	return err
}
