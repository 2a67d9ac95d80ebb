// Package upstream is the client a hub's pull-through cache (package
// mirror) fetches with: package remote's registry client, with each
// upstream's credentials, plain http where its URL says so.
package upstream

import (
	"context"
	"io"
	"net/url"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
)

// Client fetches from upstreams. It is safe for concurrent use.
type Client struct{ c *remote.Client }

// New returns a client for ups (checked with mirror.Check first).
func New(ups []mirror.Upstream) *Client {
	creds := map[string]credentials.Credential{}
	var insecure []string
	for _, u := range ups {
		pu, err := url.Parse(u.URL)
		if err != nil {
			continue
		}
		if pu.Scheme == "http" {
			insecure = append(insecure, pu.Host)
		}
		creds[pu.Host] = credentials.Credential{Username: u.Username, Password: u.Password}
	}
	return &Client{c: remote.New(remote.Options{Insecure: insecure, UserAgent: "strata-hub-mirror",
		Credentials: func(domain string) (credentials.Credential, error) { return creds[domain], nil }})}
}

func (c *Client) repo(up mirror.Upstream, name string) *remote.Repository {
	domain := up.URL
	if pu, err := url.Parse(up.URL); err == nil {
		domain = pu.Host
	}
	return c.c.Repository(domain, name, remote.Pull)
}

// Resolve is a HEAD of name's manifest ref on up.
func (c *Client) Resolve(ctx context.Context, up mirror.Upstream, name, ref string) (image.Descriptor, error) {
	return c.repo(up, name).Resolve(ctx, ref)
}

// FetchManifest reads name's manifest ref on up, checked against its digest.
func (c *Client) FetchManifest(ctx context.Context, up mirror.Upstream, name, ref string) (image.Descriptor, []byte, error) {
	return c.repo(up, name).FetchManifest(ctx, ref)
}

// FetchBlob opens blob d of name on up.
func (c *Client) FetchBlob(ctx context.Context, up mirror.Upstream, name string, d digest.Digest) (io.ReadCloser, error) {
	return c.repo(up, name).FetchBlob(ctx, image.Descriptor{Digest: d}, 0)
}
