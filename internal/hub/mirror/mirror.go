// Package mirror is the hub's pull-through cache of other registries: a
// manifest or blob a client asks for under a mirrored name, and the hub
// lacks, is fetched from the upstream, checked against its digest as it
// streams, stored once through the hub's own storage (so it is content
// addressed, deduplicated, counted and collected like pushed content), and
// served from there after.
//
// Names. Each upstream has a prefix, the first component of the names it
// serves: with prefix "quay.io", /v2/quay.io/org/app/... is org/app on the
// upstream, stored in the hub as the repository quay.io/org/app. One
// upstream may also be served at the root, as Docker's registry-mirrors
// expects of a docker.io mirror: /v2/library/busybox/... is library/busybox
// upstream, stored as docker.io/library/busybox (its prefix). A name at the
// root is the mirror's only while the hub has no local repository of that
// name: local repositories win, except in the upstream's official
// namespace, library/, which is always the mirror's (every docker daemon
// using the hub as its mirror pulls `busybox` as library/busybox, so a
// local library/busybox would be served to all of them in its place).
//
// Tags are revalidated with a HEAD to the upstream once their TTL has
// passed (within it, no upstream request is made); when the upstream
// cannot be reached, a cached tag is served stale. Manifests by digest and
// blobs never change, so once cached they are served without asking.
//
// Concurrent first pulls of one blob, or of one manifest, fetch it once per
// process (a singleflight keyed by digest, or by name and reference). Two
// nodes filling the same blob at once both fetch it; the storage's blob
// reservation (a lease) makes one of them commit it and the other link it.
//
// Mirrored repositories are read-only to pushes (the access rules refuse
// them, and the router refuses them on a hub without accounts);
// administrators may delete from them to evict what is cached.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/image"
)

// Upstream is one [[mirror]] of the hub's config.
type Upstream struct {
	// URL is the upstream registry: https://registry-1.docker.io,
	// http://127.0.0.1:5000 (plain http only when the scheme says so, or
	// for loopback).
	URL string
	// Prefix is the first component of the names it serves, and of the
	// repositories its content is stored in ("docker.io", "quay.io").
	Prefix string
	// Root serves the upstream's names at the root as well (at most one
	// upstream): what Docker's registry-mirrors asks for.
	Root bool
	// Username and Password sign in to the upstream (the password may be
	// an access token); empty: anonymous.
	Username, Password string
	// TagTTL is how long a tag is served before it is checked with the
	// upstream again (default 5 minutes).
	TagTTL time.Duration
	// SignIn makes pulls need a signed-in user; by default anyone may pull
	// mirrored names, as from a public mirror.
	SignIn bool
}

// DefaultTagTTL is how long a mirrored tag is trusted without asking.
const DefaultTagTTL = 5 * time.Minute

var prefixPattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// Check says what is wrong with a set of upstreams.
func Check(ups []Upstream) error {
	seen := map[string]bool{}
	roots := 0
	for _, u := range ups {
		if !prefixPattern.MatchString(u.Prefix) {
			return fmt.Errorf("mirror %s: prefix %q: want one name component, such as \"docker.io\"", u.URL, u.Prefix)
		}
		if seen[u.Prefix] {
			return fmt.Errorf("mirror prefix %q is given twice", u.Prefix)
		}
		seen[u.Prefix] = true
		pu, err := url.Parse(u.URL)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || strings.Trim(pu.Path, "/") != "" {
			return fmt.Errorf("mirror %s: url %q: want http(s)://HOST[:PORT]", u.Prefix, u.URL)
		}
		if u.Root {
			roots++
		}
	}
	if roots > 1 {
		return errors.New("mirror: only one upstream may be served at the root")
	}
	return nil
}

// upstream is an Upstream in use.
type upstream struct {
	Upstream
}

// Mirror fills the hub's storage from upstreams. Its methods are safe for
// concurrent use.
type Mirror struct {
	ups   []*upstream
	root  *upstream
	meta  meta.Store
	blobs *storage.Store
	reg   Registry
	spool string // Options.SpoolDir
	log   *slog.Logger

	flights singleflight.Group

	mu        sync.Mutex
	validated map[string]time.Time     // "repo:tag" → when the upstream last confirmed it
	parents   map[string][]parentRef   // "repo@digest" → manifests that refer to it, not yet recorded
	fetches   map[string]*atomic.Int64 // upstream requests by kind, for tests and metrics
	private   sync.Map                 // repositories of sign-in mirrors made private
	inflight  map[digest.Digest]*fill  // blob fills running
	now       func() time.Time
}

// parentRef is a manifest stored before something it refers to was.
type parentRef struct {
	digest string
	child  bool // refers to it as a manifest (an index's child), not a blob
}

// Registry is what a Mirror fetches from upstreams with: package
// upstream's, over internal/remote (which this package cannot import: the
// test helpers that build hubs sit below remote's own tests). Each call
// names the upstream, and the repository as the upstream calls it.
type Registry interface {
	// Resolve is a HEAD of a manifest: what ref names now.
	Resolve(ctx context.Context, up Upstream, name, ref string) (image.Descriptor, error)
	// FetchManifest reads a manifest, checked against the digest it was
	// asked for or the one the upstream says it has.
	FetchManifest(ctx context.Context, up Upstream, name, ref string) (image.Descriptor, []byte, error)
	// FetchBlob opens a blob; its content is unchecked.
	FetchBlob(ctx context.Context, up Upstream, name string, d digest.Digest) (io.ReadCloser, error)
}

// Options are what a Mirror is built with besides its upstreams.
type Options struct {
	Log *slog.Logger
	Now func() time.Time
	// SpoolDir is where blobs on their way are spooled for the clients
	// that follow them (unlinked files, as large as the blobs); "" the
	// system's temporary directory.
	SpoolDir string
}

// New returns a Mirror of ups over the hub's metadata and blobs; nil when
// ups is empty.
func New(ups []Upstream, reg Registry, m meta.Store, blobs *storage.Store, opts Options) (*Mirror, error) {
	if len(ups) == 0 {
		return nil, nil
	}
	if err := Check(ups); err != nil {
		return nil, err
	}
	if reg == nil {
		return nil, errors.New("mirror: no client for the upstreams")
	}
	mr := &Mirror{meta: m, blobs: blobs, reg: reg, spool: opts.SpoolDir, log: opts.Log, now: opts.Now,
		validated: map[string]time.Time{}, inflight: map[digest.Digest]*fill{}, parents: map[string][]parentRef{}, fetches: map[string]*atomic.Int64{}}
	if mr.log == nil {
		mr.log = slog.New(slog.DiscardHandler)
	}
	if mr.now == nil {
		mr.now = time.Now
	}
	for _, u := range ups {
		if u.TagTTL <= 0 {
			u.TagTTL = DefaultTagTTL
		}
		up := &upstream{Upstream: u}
		mr.ups = append(mr.ups, up)
		if u.Root {
			mr.root = up
		}
	}
	return mr, nil
}

// Target is a mirrored name: where its content is stored in the hub, and
// what the upstream calls it.
type Target struct {
	Stored string // the hub's repository: PREFIX/NAME
	Remote string // the upstream's repository: NAME
	SignIn bool   // pulls need a signed-in user
	up     *upstream
}

// Resolve says whether name, as a client asked for it, is a mirrored one,
// and which. A name under an upstream's prefix is, and so is one under
// library/ at the root (for pushes too, which the access rules then
// refuse). Any other name at the root is the root upstream's to read
// (pull) when the hub has no repository of that name; pushes and deletes
// there are the hub's own, as ever.
func (m *Mirror) Resolve(ctx context.Context, name string, read bool) (Target, bool, error) {
	if m == nil {
		return Target{}, false, nil
	}
	first, rest, nested := strings.Cut(name, "/")
	for _, u := range m.ups {
		if nested && first == u.Prefix {
			return Target{Stored: name, Remote: rest, SignIn: u.SignIn, up: u}, true, nil
		}
	}
	if m.root == nil {
		return Target{}, false, nil
	}
	root := Target{Stored: m.root.Prefix + "/" + name, Remote: name, SignIn: m.root.SignIn, up: m.root}
	if nested && first == OfficialNamespace {
		return root, true, nil
	}
	if !read {
		return Target{}, false, nil
	}
	if _, err := m.meta.Repository(ctx, name); err == nil {
		return Target{}, false, nil
	} else if !errdefs.IsNotFound(err) {
		return Target{}, false, err
	}
	return root, true, nil
}

// Prefixes are the namespaces what ups fetch is stored under.
func Prefixes(ups []Upstream) []string {
	var out []string
	for _, u := range ups {
		out = append(out, u.Prefix)
	}
	return out
}

// OfficialNamespace is where Docker Hub keeps its official images, and
// where a docker daemon looks for a one-part name such as busybox.
const OfficialNamespace = "library"

// Mirrored reports whether name is a mirrored one for action, and whether
// pulling it needs a signed-in user: what the access rules ask.
func (m *Mirror) Mirrored(ctx context.Context, name string, action access.Action) (mirrored, signIn bool, err error) {
	t, ok, err := m.Resolve(ctx, name, action == access.Pull)
	return ok, t.SignIn, err
}

// Upstream describes where t's content comes from, for messages.
func (t Target) Upstream() string { return t.up.URL + "/" + t.Remote }

// Fetches counts the requests made to upstreams for content, by kind
// ("manifest", "resolve", "blob"): a warm cache makes none.
func (m *Mirror) Fetches(kind string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.fetches[kind]; c != nil {
		return c.Load()
	}
	return 0
}

func (m *Mirror) count(kind string) {
	m.mu.Lock()
	c := m.fetches[kind]
	if c == nil {
		c = &atomic.Int64{}
		m.fetches[kind] = c
	}
	m.mu.Unlock()
	c.Add(1)
}
