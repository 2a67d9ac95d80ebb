package metatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// testTagPolicies: policies are read back as written, a repository's
// only while it exists, and an empty one is none.
func testTagPolicies(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if p, err := s.TagPolicy(ctx, meta.ScopeRepository, "ann/app"); err != nil || !p.Empty() || p.Name != "ann/app" || p.Scope != meta.ScopeRepository {
		t.Fatalf("no policy: %+v, %v", p, err)
	}
	rp := meta.TagPolicy{Scope: meta.ScopeRepository, Name: "ann/app", Immutable: []string{"v*", "stable"}, KeepLast: 5,
		KeepWithin: 72 * time.Hour, DropUntagged: true, UpdatedBy: "ann", UpdatedAt: t0}
	if err := s.SetTagPolicy(ctx, rp); !errdefs.IsNotFound(err) {
		t.Fatalf("a policy on a missing repository: %v", err)
	}
	if err := s.CreateRepository(ctx, meta.Repository{Name: "ann/app", Visibility: meta.Public, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	np := meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "ann", Immutable: []string{"release-*"}, UpdatedBy: "ann", UpdatedAt: t0}
	for _, p := range []meta.TagPolicy{rp, np} {
		if err := s.SetTagPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TagPolicy(ctx, meta.ScopeRepository, "ann/app")
	if err != nil || len(got.Immutable) != 2 || got.Immutable[1] != "stable" || got.KeepLast != 5 || got.KeepWithin != 72*time.Hour ||
		!got.DropUntagged || got.UpdatedBy != "ann" || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("policy read back as %+v, %v", got, err)
	}
	rp.KeepLast, rp.DropUntagged = 2, false
	if err := s.SetTagPolicy(ctx, rp); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TagPolicy(ctx, meta.ScopeRepository, "ann/app"); got.KeepLast != 2 || got.DropUntagged {
		t.Fatalf("policy replaced as %+v", got)
	}
	if ps, err := s.PoliciesFor(ctx, "ann/app"); err != nil || len(ps) != 2 || ps[0].Scope != meta.ScopeRepository || ps[1].Name != "ann" {
		t.Fatalf("policies for ann/app: %+v, %v", ps, err)
	}
	// A repository of one component is in no namespace (user ann's rules
	// are not on the administrators' repository "ann").
	if err := s.CreateRepository(ctx, meta.Repository{Name: "ann", Visibility: meta.Public, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.PoliciesFor(ctx, "ann"); err != nil || len(ps) != 0 {
		t.Fatalf("policies for a repository of one component: %+v, %v", ps, err)
	}
	if ps, err := s.TagPolicies(ctx); err != nil || len(ps) != 2 || ps[0].Scope != meta.ScopeNamespace {
		t.Fatalf("all policies: %+v, %v", ps, err)
	}
	if err := s.SetTagPolicy(ctx, meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.PoliciesFor(ctx, "ann/app"); len(ps) != 1 {
		t.Fatalf("an empty policy stayed: %+v", ps)
	}
	if err := s.DeleteRepository(ctx, "ann/app"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepository(ctx, meta.Repository{Name: "ann/app", Visibility: meta.Public, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.TagPolicy(ctx, meta.ScopeRepository, "ann/app"); !p.Empty() {
		t.Fatalf("a repository made again under the name has the old one's policy: %+v", p)
	}
}

// testImmutableTags: a tag an immutable rule (of the repository or its
// namespace) covers is never moved or deleted, alone or with its
// manifest; pushing it again where it points, or for the first time, is fine.
func testImmutableTags(t *testing.T, s meta.Store) {
	ctx := context.Background()
	cfg := dg("cfg")
	live(t, s, "ann/app", cfg, t0)
	m1, m2 := image("m1", cfg), image("m2", cfg)
	if err := s.PutManifest(ctx, "ann/app", m1, []string{"v1", "release-1", "latest"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []meta.TagPolicy{
		{Scope: meta.ScopeRepository, Name: "ann/app", Immutable: []string{"v*"}, UpdatedAt: t0},
		{Scope: meta.ScopeNamespace, Name: "ann", Immutable: []string{"release-?"}, UpdatedAt: t0},
	} {
		if err := s.SetTagPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	immutable := func(err error, tag, pattern string) {
		t.Helper()
		var ie *meta.ImmutableError
		if !errors.As(err, &ie) || ie.Tag != tag || ie.Pattern != pattern || !errors.Is(err, errdefs.ErrForbidden) {
			t.Fatalf("want tag %s refused by rule %s, got %v", tag, pattern, err)
		}
	}
	if err := s.PutManifest(ctx, "ann/app", m1, []string{"v1", "release-1"}); err != nil {
		t.Fatalf("pushing immutable tags again where they point: %v", err)
	}
	immutable(s.PutManifest(ctx, "ann/app", m2, []string{"latest", "v1"}), "v1", "v*")
	immutable(s.PutManifest(ctx, "ann/app", m2, []string{"release-1"}), "release-1", "release-?")
	if got, _ := s.Manifest(ctx, "ann/app", "latest"); got.Digest != m1.Digest {
		t.Fatal("a refused push moved another of its tags")
	}
	if err := s.PutManifest(ctx, "ann/app", m2, []string{"v2", "latest", "release-10"}); err != nil {
		t.Fatalf("new immutable tags, a mutable one moved: %v", err)
	}
	immutable(s.DeleteTag(ctx, "ann/app", "v1"), "v1", "v*")
	immutable(s.DeleteManifest(ctx, "ann/app", m1.Digest, false), "release-1", "release-?")
	if err := s.DeleteTag(ctx, "ann/app", "release-10"); err != nil {
		t.Fatalf("a tag no rule covers: %v", err)
	}
	if err := s.DeleteTag(ctx, "ann/app", "v9"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting a tag that is not there: %v", err)
	}
	for _, ref := range []string{"v1", "release-1"} {
		if got, err := s.Manifest(ctx, "ann/app", ref); err != nil || got.Digest != m1.Digest {
			t.Fatalf("immutable tag %s after refusals: %v, %v", ref, got.Digest, err)
		}
	}
	if err := s.SetTagPolicy(ctx, meta.TagPolicy{Scope: meta.ScopeRepository, Name: "ann/app"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, "ann/app", m2, []string{"v1"}); err != nil {
		t.Fatalf("once the rule is gone: %v", err)
	}
	if err := s.DeleteRepository(ctx, "ann/app"); err != nil {
		t.Fatalf("deleting a repository with immutable tags (its own decision): %v", err)
	}
}

// testManifestInfos: every manifest with its children, subject, and the
// latest pull recorded.
func testManifestInfos(t *testing.T, s meta.Store) {
	ctx := context.Background()
	cfg := dg("cfg")
	live(t, s, "ann/app", cfg, t0)
	a, b := image("a", cfg), image("b", cfg)
	sig := image("sig", cfg)
	sig.Subject = a.Digest
	idx := meta.Manifest{Digest: dg("index"), MediaType: "application/vnd.oci.image.index.v1+json", Content: []byte(`{"index":1}`),
		Children: []digest.Digest{a.Digest, b.Digest}, CreatedAt: t0.Add(time.Hour)}
	for _, m := range []meta.Manifest{a, b, sig, idx} {
		if err := s.PutManifest(ctx, "ann/app", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(2 * time.Hour)
	if err := s.RecordPulls(ctx, []meta.Pulls{{Repo: "ann/app", Count: 2, Last: t1, Manifests: []digest.Digest{idx.Digest, dg("gone")}}}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ManifestInfos(ctx, "ann/app")
	if err != nil || len(ms) != 4 {
		t.Fatalf("manifest infos: %+v, %v", ms, err)
	}
	for _, m := range ms {
		switch m.Digest {
		case idx.Digest:
			if len(m.Children) != 2 || !m.PulledAt.Equal(t1) || !m.CreatedAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("the index: %+v", m)
			}
		case sig.Digest:
			if m.Subject != a.Digest || len(m.Children) != 0 || !m.PulledAt.IsZero() {
				t.Fatalf("the referrer: %+v", m)
			}
		}
	}
	if ms, err := s.ManifestInfos(ctx, "ann/none"); err != nil || len(ms) != 0 {
		t.Fatalf("a missing repository's manifests: %+v, %v", ms, err)
	}
}
