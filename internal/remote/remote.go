// Package remote is strata's registry client: the OCI distribution API
// (and Docker's registry v2, which it grew from) over HTTP, with Docker's
// authentication.
//
// A Client holds what is shared across a process: the HTTP transport, each
// host's scheme and auth challenge, and the bearer tokens already obtained.
// A Repository is one repository on one registry, with the actions a caller
// needs on it (pull, or pull and push, plus pull on the repositories it may
// mount blobs from), so that a single token covers every request.
//
// What it does by hand, and why: the flows are small and must match Docker's
// exactly (which hosts are plain http, how Docker Hub is named, how several
// scopes share a token, how a chunked upload respects OCI-Chunk-Min-Length),
// and it must report progress as events without printing. Nothing here
// touches the local store: the pull and push engines in package transfer join
// the two.
package remote

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/internal/credentials"
)

// Docker Hub's names: references say docker.io, the API lives elsewhere.
const (
	DockerHubDomain   = "docker.io"
	DockerHubEndpoint = "registry-1.docker.io"
)

// CredentialFunc returns the login for a registry domain ("docker.io",
// "localhost:5000"); an empty Credential means anonymous.
type CredentialFunc func(domain string) (credentials.Credential, error)

// Options configure a Client. The zero value works: anonymous, https except
// for loopback registries.
type Options struct {
	// Credentials looks up logins; nil means anonymous everywhere.
	Credentials CredentialFunc
	// Insecure lists registries (host or host:port) spoken to over plain
	// http, or over https without verifying the certificate, as Docker's
	// insecure-registries. localhost and 127.0.0.0/8 always are.
	Insecure []string
	// Transport, when set, is the HTTP transport to start from (tests dial
	// their own servers through it); insecure registries get a copy that
	// skips certificate checks.
	Transport *http.Transport
	// UserAgent is sent with every request.
	UserAgent string
	// Now tells the time for token lifetimes; nil means time.Now. Tests
	// move it forward instead of sleeping.
	Now func() time.Time
}

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	opts     Options
	http     *http.Client
	insecure *http.Client // skips certificate checks, for insecure registries

	mu    sync.Mutex
	hosts map[string]*host
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.UserAgent == "" {
		opts.UserAgent = "strata"
	}
	c := &Client{opts: opts, hosts: map[string]*host{}}
	base := opts.Transport
	if base == nil {
		base = defaultTransport()
	}
	insecure := base.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	c.http = &http.Client{Transport: base}
	c.insecure = &http.Client{Transport: insecure}
	return c
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 16
	t.DisableCompression = true // blobs are compressed already, and their digests are of the bytes sent
	return t
}

// Endpoint is the host:port that serves the API for a reference's domain.
func Endpoint(domain string) string {
	if domain == DockerHubDomain || domain == "index.docker.io" {
		return DockerHubEndpoint
	}
	return domain
}

// IsInsecure reports whether domain may be spoken to without verified TLS:
// localhost, 127.0.0.0/8, ::1, or a registry listed in Options.Insecure.
func (c *Client) IsInsecure(domain string) bool {
	h := domain
	if hostname, _, err := net.SplitHostPort(domain); err == nil {
		h = hostname
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, r := range c.opts.Insecure {
		if r == domain || r == h {
			return true
		}
	}
	return false
}

// host is what the client learned about one registry host.
type host struct {
	domain string // as references name it: docker.io, localhost:5000
	addr   string // where its API is: registry-1.docker.io, localhost:5000

	mu        sync.Mutex
	scheme    string     // "https", or "http" once an insecure registry answered in plain http
	challenge *challenge // nil until the registry asked for credentials
	tokens    map[string]*token
	basic     bool // the challenge was Basic: send credentials with every request
}

func (c *Client) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

func (c *Client) host(domain string) *host {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[domain]
	if !ok {
		h = &host{domain: domain, addr: Endpoint(domain), scheme: "https", tokens: map[string]*token{}}
		c.hosts[domain] = h
	}
	return h
}

// baseURL is the scheme and authority of domain's API.
func (h *host) baseURL() *url.URL {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &url.URL{Scheme: h.scheme, Host: h.addr}
}
