package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Access is what a caller will do with a repository.
type Access int

const (
	// Pull reads manifests and blobs.
	Pull Access = iota
	// Push also writes them.
	Push
)

// Repository is one repository on one registry, such as docker.io and
// library/busybox. Its methods are safe for concurrent use.
type Repository struct {
	c      *Client
	h      *host
	Domain string // as references name it: docker.io, localhost:5000
	Name   string // the path: library/busybox, alice/app
	scopes []string
}

// Repository returns the repository name on domain, for access. mountFrom
// names other repositories of the same registry that blobs may be mounted
// from; their pull scope is asked for in the same token.
func (c *Client) Repository(domain, name string, access Access, mountFrom ...string) *Repository {
	if domain == DockerHubDomain && !strings.Contains(name, "/") {
		name = "library/" + name
	}
	actions := "pull"
	if access == Push {
		actions = "pull,push"
	}
	scopes := []string{"repository:" + name + ":" + actions}
	for _, m := range mountFrom {
		if m != name {
			scopes = append(scopes, "repository:"+m+":pull")
		}
	}
	return &Repository{c: c, h: c.host(domain), Domain: domain, Name: name, scopes: scopes}
}

// request is one API call. body, when set, makes a fresh reader of the
// request's content, so the call can be sent again after a 401 or a
// transient failure.
type request struct {
	method string
	path   string   // under the registry's base URL: /v2/<name>/...
	url    *url.URL // instead of path: an upload Location the registry gave
	query  url.Values
	header http.Header
	body   func() io.Reader
	size   int64 // Content-Length when body is set
}

// maxTransientRetries bounds how often an idempotent request is sent again
// after a connection failure or a 429/5xx.
const maxTransientRetries = 3

// do sends req, authenticating as the registry asks: on a 401 it learns the
// challenge, gets credentials or a token, and sends the request again. An
// insecure registry that answers https in plain http is switched to http.
// Responses other than 401 are returned as they are, for the caller to judge.
func (r *Repository) do(ctx context.Context, req *request) (*http.Response, error) {
	authRetried, transient := false, 0
	for {
		hreq, err := r.build(ctx, req)
		if err != nil {
			return nil, err
		}
		usedToken, err := r.authorize(ctx, hreq)
		if err != nil {
			return nil, err
		}
		resp, err := r.c.clientFor(r.Domain).Do(hreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if isPlainHTTPAnswer(err) && r.c.IsInsecure(r.Domain) && hreq.URL.Scheme == "https" && req.url == nil {
				r.h.useHTTP()
				continue
			}
			if idempotent(req.method) && transientNetError(err) && transient < maxTransientRetries {
				transient++
				if err := sleep(ctx, transient); err != nil {
					return nil, err
				}
				continue
			}
			return nil, explainNetError(hreq.URL.Host, err)
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !authRetried:
			ch, perr := parseChallenge(resp.Header.Get("WWW-Authenticate"))
			if perr != nil {
				return resp, nil
			}
			if usedToken {
				r.h.dropToken(r.scopes)
			}
			r.h.learn(ch)
			authRetried = true
			resp.Body.Close()
			continue
		case retryableStatus(resp.StatusCode) && idempotent(req.method) && transient < maxTransientRetries:
			transient++
			resp.Body.Close()
			if err := sleep(ctx, transient); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

func (r *Repository) build(ctx context.Context, req *request) (*http.Request, error) {
	u := req.url
	if u == nil {
		u = r.h.baseURL()
		u.Path = req.path
	} else {
		u = cloneURL(u)
	}
	if len(req.query) > 0 {
		q := u.Query()
		for k, vs := range req.query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = req.body()
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if req.body != nil {
		hreq.ContentLength = req.size
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(req.body()), nil }
		if req.size == 0 {
			hreq.Body, hreq.GetBody = http.NoBody, nil
		}
	}
	for k, vs := range req.header {
		hreq.Header[k] = vs
	}
	hreq.Header.Set("User-Agent", r.c.opts.UserAgent)
	return hreq, nil
}

func cloneURL(u *url.URL) *url.URL {
	c := *u
	return &c
}

// authorize adds credentials to a request for this registry's own host (an
// upload location elsewhere gets none). It reports whether a bearer token
// was used.
func (r *Repository) authorize(ctx context.Context, hreq *http.Request) (bool, error) {
	if hreq.URL.Host != r.h.addr {
		return false, nil
	}
	r.h.mu.Lock()
	ch, basic := r.h.challenge, r.h.basic
	r.h.mu.Unlock()
	switch {
	case ch == nil:
		return false, nil
	case basic:
		cred, err := r.c.credential(r.Domain)
		if err != nil {
			return false, err
		}
		if !cred.Empty() {
			hreq.SetBasicAuth(cred.Username, cred.Password)
		}
		return false, nil
	}
	tok, err := r.c.bearer(ctx, r.h, r.scopes)
	if err != nil {
		return false, err
	}
	hreq.Header.Set("Authorization", "Bearer "+tok)
	return true, nil
}

// learn records a host's challenge.
func (h *host) learn(ch *challenge) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.challenge = ch
	h.basic = ch.scheme == "basic"
}

// useHTTP switches an insecure host that answered https in plain http to http.
func (h *host) useHTTP() {
	h.mu.Lock()
	h.scheme = "http"
	h.mu.Unlock()
}

// transientNetError reports whether a failed request may work if sent again:
// a connection dropped or timed out, not a name or certificate problem.
func transientNetError(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.As(err, &ne) && ne.Timeout()
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// sleep waits before the attempt-th retry: 200 ms, 400 ms, 800 ms.
func sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// expect returns resp when its status is one of codes, else an *Error read
// from it (and closes it).
func expect(resp *http.Response, op string, codes ...int) (*http.Response, error) {
	for _, c := range codes {
		if resp.StatusCode == c {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, statusError(resp, op)
}
