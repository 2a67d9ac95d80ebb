package retention

import (
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

func dg(s string) digest.Digest { return digest.FromString(s) }

// TestDecide: which tags and manifests each rule lets go.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// Tags a (newest) .. e (oldest), each on its own image; v1 on e's image.
	tags := []meta.Tag{
		{Name: "c", Digest: dg("C"), UpdatedAt: ago(3 * day)},
		{Name: "a", Digest: dg("A"), UpdatedAt: ago(1 * day)},
		{Name: "e", Digest: dg("E"), UpdatedAt: ago(5 * day)},
		{Name: "b", Digest: dg("B"), UpdatedAt: ago(2 * day)},
		{Name: "d", Digest: dg("D"), UpdatedAt: ago(4 * day)},
		{Name: "v1", Digest: dg("E"), UpdatedAt: ago(9 * day)},
	}
	ms := []meta.ManifestInfo{
		{Digest: dg("A"), CreatedAt: ago(day)}, {Digest: dg("B"), CreatedAt: ago(2 * day)},
		{Digest: dg("C"), CreatedAt: ago(3 * day)}, {Digest: dg("D"), CreatedAt: ago(4 * day), PulledAt: ago(time.Hour)},
		{Digest: dg("E"), CreatedAt: ago(5 * day)},
		// An index (untagged, old) naming two images, and a signature of it.
		{Digest: dg("I"), CreatedAt: ago(8 * day), Children: []digest.Digest{dg("X"), dg("Y")}},
		{Digest: dg("X"), CreatedAt: ago(8 * day)}, {Digest: dg("Y"), CreatedAt: ago(8 * day)},
		{Digest: dg("S"), CreatedAt: ago(8 * day), Subject: dg("I")},
		// A signature of the kept image A; a fresh untagged push.
		{Digest: dg("SA"), CreatedAt: ago(7 * day), Subject: dg("A")},
		{Digest: dg("N"), CreatedAt: ago(time.Minute)},
	}
	immutable := meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "ns", Immutable: []string{"v*"}}
	cases := []struct {
		name      string
		rules     meta.TagPolicy
		tags      []string
		manifests []digest.Digest
	}{
		{"no retention rule", meta.TagPolicy{}, nil, nil},
		{"keep last 2", meta.TagPolicy{KeepLast: 2}, []string{"c", "d", "e"}, nil},
		{"keep last 10", meta.TagPolicy{KeepLast: 10}, nil, nil},
		{"keep within 2.5 days, D pulled lately", meta.TagPolicy{KeepWithin: 60 * time.Hour}, []string{"c", "e"}, nil},
		{"either rule keeps", meta.TagPolicy{KeepLast: 1, KeepWithin: 60 * time.Hour}, []string{"c", "e"}, nil},
		// Dropping untagged alone: the index goes before its children, with its signature.
		{"drop untagged", meta.TagPolicy{DropUntagged: true}, nil, []digest.Digest{dg("I"), dg("S"), dg("X"), dg("Y")}},
		// C's tag goes, so C goes; E stays under v1 (immutable).
		{"keep last 4 and drop untagged", meta.TagPolicy{KeepLast: 4, DropUntagged: true}, []string{"e"},
			[]digest.Digest{dg("I"), dg("S"), dg("X"), dg("Y")}},
		{"keep last 2 and drop untagged", meta.TagPolicy{KeepLast: 2, DropUntagged: true}, []string{"c", "d", "e"},
			[]digest.Digest{dg("C"), dg("D"), dg("I"), dg("S"), dg("X"), dg("Y")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.rules.Scope, tc.rules.Name = meta.ScopeRepository, "ns/app"
			p := Decide("ns/app", []meta.TagPolicy{tc.rules, immutable}, tags, ms, now, time.Hour)
			var got []string
			for _, tag := range p.Tags {
				got = append(got, tag.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.tags) {
				t.Errorf("tags deleted %v, want %v", got, tc.tags)
			}
			if p.KeptTags != len(tags)-len(tc.tags) {
				t.Errorf("kept %d tags", p.KeptTags)
			}
			if !sameSet(p.Manifests, tc.manifests) {
				t.Errorf("manifests deleted %v, want %v", p.Manifests, tc.manifests)
			}
			if i := slices.Index(p.Manifests, dg("I")); i >= 0 && (slices.Index(p.Manifests, dg("X")) < i || slices.Index(p.Manifests, dg("Y")) < i) {
				t.Errorf("a child goes before its index: %v", p.Manifests)
			}
		})
	}
}

// TestRulesOfRepositoryFirst: a repository's own retention rules replace
// its namespace's; a policy of immutable patterns alone does not.
func TestRulesOfRepositoryFirst(t *testing.T) {
	ns := meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "ns", KeepLast: 3}
	own := meta.TagPolicy{Scope: meta.ScopeRepository, Name: "ns/app", KeepLast: 9}
	only := meta.TagPolicy{Scope: meta.ScopeRepository, Name: "ns/app", Immutable: []string{"v*"}}
	if r := Rules([]meta.TagPolicy{own, ns}); r.KeepLast != 9 {
		t.Fatalf("own rules: %+v", r)
	}
	if r := Rules([]meta.TagPolicy{only, ns}); r.KeepLast != 3 || r.Scope != meta.ScopeNamespace {
		t.Fatalf("immutable patterns only: %+v", r)
	}
	if got := Describe(meta.TagPolicy{KeepLast: 5, KeepWithin: 30 * 24 * time.Hour, DropUntagged: true}); got !=
		"keep the 5 most recent tags; keep what was pushed or pulled within 30 days; drop untagged manifests" {
		t.Fatalf("Describe = %q", got)
	}
}

func sameSet(a, b []digest.Digest) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
