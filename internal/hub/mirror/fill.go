package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// fillTimeout bounds one fetch from an upstream. A fill runs apart from
// the request that started it: other requests wait for it, and a client
// that goes away must not waste what was fetched.
const fillTimeout = 30 * time.Minute

// Manifest makes sure t's repository holds the manifest ref (a tag or a
// digest) as the upstream has it: a digest once cached is kept; a tag is
// taken from the cache within its TTL, else checked with a HEAD (and
// fetched when it moved). An upstream that cannot be reached leaves a
// cached tag served as it is.
func (m *Mirror) Manifest(ctx context.Context, t Target, ref string) error {
	d, byDigest := digestRef(ref)
	cached, err := m.meta.Manifest(ctx, t.Stored, ref)
	have := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if have && (byDigest || m.fresh(t, ref)) {
		return nil
	}
	_, err, _ = m.flights.Do("manifest "+t.Stored+":"+ref, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
		defer cancel()
		return nil, m.fillManifest(fctx, t, ref, d, cached.Digest)
	})
	if err != nil && have && !errdefs.IsNotFound(err) {
		m.log.Warn("mirror: serving a cached tag the upstream did not confirm", "repository", t.Stored, "tag", ref, "err", err)
		return nil
	}
	return upstreamError(err, errcode.ManifestUnknown)
}

// fillManifest fetches ref from the upstream unless it names cached (the
// digest the cache has for it) and stores it.
func (m *Mirror) fillManifest(ctx context.Context, t Target, ref string, d digest.Digest, cached digest.Digest) error {
	fetch := ref
	if d == "" && cached != "" {
		m.count("resolve")
		desc, err := m.reg.Resolve(ctx, t.up.Upstream, t.Remote, ref)
		if err != nil {
			return err
		}
		if desc.Digest == cached {
			m.validate(t, ref)
			return m.rerecord(ctx, t, cached)
		}
		fetch = desc.Digest.String()
	}
	m.count("manifest")
	desc, body, err := m.reg.FetchManifest(ctx, t.up.Upstream, t.Remote, fetch)
	if err != nil {
		return err
	}
	if d != "" && desc.Digest != d {
		return fmt.Errorf("mirror: %s sent %s for %s: %w", t.Upstream(), desc.Digest, d, errdefs.ErrConflict)
	}
	mf, err := distapi.Describe(desc.MediaType, body)
	if err != nil {
		return err
	}
	mf.Digest, mf.CreatedAt = desc.Digest, m.blobs.Now()
	var tags []string
	if d == "" {
		tags = []string{ref}
	}
	if err := m.store(ctx, t, mf, tags); err != nil {
		return err
	}
	if d == "" {
		m.validate(t, ref)
	}
	return nil
}

// rerecord records again what a cached manifest refers to that its
// repository holds now: references left for later are kept in memory
// only, so after a restart the first revalidation of a tag records them
// (and the collector keeps what the manifest uses).
func (m *Mirror) rerecord(ctx context.Context, t Target, d digest.Digest) error {
	mf, err := m.meta.Manifest(ctx, t.Stored, d.String())
	if err != nil {
		return err
	}
	again, err := distapi.Describe(mf.MediaType, mf.Content)
	if err != nil {
		return err
	}
	mf.Blobs, mf.Children = again.Blobs, again.Children
	return m.store(ctx, t, mf, nil)
}

// store records a fetched manifest with the references the repository can
// hold now (what it lacks cannot be recorded yet: the metadata refuses a
// manifest naming what is not there); the rest are recorded as they are
// filled, so that the collector keeps them.
func (m *Mirror) store(ctx context.Context, t Target, mf meta.Manifest, tags []string) error {
	blobs, children := mf.Blobs, mf.Children
	mf.Blobs, mf.Children = nil, nil
	var laterBlobs, laterChildren []digest.Digest
	for _, b := range blobs {
		if _, err := m.meta.RepoBlob(ctx, t.Stored, b); err == nil {
			mf.Blobs = append(mf.Blobs, b)
		} else {
			laterBlobs = append(laterBlobs, b)
		}
	}
	for _, c := range children {
		if _, err := m.meta.Manifest(ctx, t.Stored, c.String()); err == nil {
			mf.Children = append(mf.Children, c)
		} else {
			laterChildren = append(laterChildren, c)
		}
	}
	if err := m.meta.PutManifest(ctx, t.Stored, mf, tags); err != nil {
		return err
	}
	// Left for later, once the manifest is there for their fills to find;
	// what a fill stored meanwhile (it may have looked before) is recorded now.
	for _, b := range laterBlobs {
		m.addParent(key(t.Stored, b), parentRef{digest: mf.Digest.String()})
	}
	for _, c := range laterChildren {
		m.addParent(key(t.Stored, c), parentRef{digest: mf.Digest.String(), child: true})
	}
	for _, b := range laterBlobs {
		if _, err := m.meta.RepoBlob(ctx, t.Stored, b); err == nil {
			m.filled(ctx, t.Stored, b)
		}
	}
	for _, c := range laterChildren {
		if _, err := m.meta.Manifest(ctx, t.Stored, c.String()); err == nil {
			m.filled(ctx, t.Stored, c)
		}
	}
	m.filled(ctx, t.Stored, mf.Digest)
	return m.guard(ctx, t)
}

// guard makes the repository of a mirror that needs sign-in private, once
// it exists, so that listings, search and the web show it to no one
// anonymous (the access rules let signed-in users pull it all the same).
func (m *Mirror) guard(ctx context.Context, t Target) error {
	if !t.SignIn {
		return nil
	}
	if _, done := m.private.Load(t.Stored); done {
		return nil
	}
	private := meta.Private
	if err := m.meta.UpdateRepository(ctx, t.Stored, meta.RepoChange{Visibility: &private}); err != nil {
		return err
	}
	m.private.Store(t.Stored, true)
	return nil
}

func key(repo string, d digest.Digest) string { return repo + "@" + d.String() }

func (m *Mirror) addParent(k string, p parentRef) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.parents[k], p) {
		m.parents[k] = append(m.parents[k], p)
	}
}

// filled records d, just stored in repo, in the manifests stored before it
// that refer to it.
func (m *Mirror) filled(ctx context.Context, repo string, d digest.Digest) {
	m.mu.Lock()
	ps := m.parents[key(repo, d)]
	delete(m.parents, key(repo, d))
	m.mu.Unlock()
	for _, p := range ps {
		mf, err := m.meta.Manifest(ctx, repo, p.digest)
		if err != nil {
			continue
		}
		mf.Blobs, mf.Children = nil, nil
		if p.child {
			mf.Children = []digest.Digest{d}
		} else {
			mf.Blobs = []digest.Digest{d}
		}
		if err := m.meta.PutManifest(ctx, repo, mf, nil); err != nil {
			m.log.Warn("mirror: recording a reference", "repository", repo, "manifest", p.digest, "ref", d, "err", err)
		}
	}
}

// upstreamError maps what an upstream said to the registry API's codes:
// not found as notFound, content that does not match its digest as a bad
// gateway's 502 (nothing of it was stored), unreachable as 503; a blob
// the hub would not store (the mirror's quota full, the size limit) as
// for a push.
func upstreamError(err error, notFound errcode.Code) error {
	var de *storage.DigestError
	var ce *errcode.Error
	var qe *meta.QuotaError
	var tl *storage.TooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &qe):
		return errcode.Wrap(errcode.QuotaExceeded, err)
	case errors.As(err, &tl):
		return errcode.Wrap(errcode.BlobTooLarge, err)
	case errdefs.IsNotFound(err):
		return errcode.Wrap(notFound, err)
	case errors.As(err, &de) || errdefs.IsConflict(err):
		return errcode.Wrap(BadUpstream, err)
	case errors.As(err, &ce):
		return err
	}
	return errcode.Wrap(errcode.Unavailable, err)
}

// BadUpstream is content from an upstream that is not what it was asked for.
var BadUpstream = errcode.Code{Name: "UNAVAILABLE", Status: 502, Message: "the upstream registry sent content that does not match its digest"}

func digestRef(ref string) (digest.Digest, bool) {
	d, err := digest.Parse(ref)
	if err != nil {
		return "", false
	}
	return d, true
}

// fresh reports whether the upstream confirmed t's tag within its TTL.
func (m *Mirror) fresh(t Target, tag string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.validated[t.Stored+":"+tag]
	return ok && m.now().Sub(at) < t.up.TagTTL
}

func (m *Mirror) validate(t Target, tag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.validated[t.Stored+":"+tag] = m.now()
}
