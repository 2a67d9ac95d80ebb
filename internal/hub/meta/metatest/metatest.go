// Package metatest is the conformance suite for meta.Store: every
// implementation (SQLite now, PostgreSQL later) runs Run from its tests.
package metatest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Run checks a store made fresh by newStore for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, meta.Store)
	}{
		{"BlobLifecycle", testBlobLifecycle},
		{"BlobTakeOver", testBlobTakeOver},
		{"BlobWritersRace", testBlobWritersRace},
		{"Quarantine", testQuarantine},
		{"BlobListing", testBlobListing},
		{"Quota", testQuota},
		{"QuotaRace", testQuotaRace},
		{"LinksAreRepositoryScoped", testLinksScoped},
		{"ManifestsAndTags", testManifestsAndTags},
		{"IndexChildrenStay", testIndexChildrenStay},
		{"DeleteUntaggedOnly", testDeleteUntaggedOnly},
		{"MissingReferences", testMissingReferences},
		{"Referrers", testReferrers},
		{"Paging", testPaging},
		{"TagList", testTagList},
		{"Garbage", testGarbage},
		{"GarbageLeases", testGarbageLeases},
		{"Users", testUsers},
		{"PullsAndOverview", testPullsAndOverview},
		{"UserChangesOnlyWhatItSays", testUserChange},
		{"SignOutEverywhere", testSignOutEverywhere},
		{"FirstUserAndSignup", testFirstUserAndSignup},
		{"SignupRace", testSignupRace},
		{"LastAdmin", testLastAdmin},
		{"Credentials", testCredentials},
		{"CredentialIDsNeverReused", testCredentialIDs},
		{"Settings", testSettings},
		{"ImplicitRepositoryOwner", testImplicitOwner},
		{"RepositoryLifecycle", testRepositoryLifecycle},
		{"VisibilityFilter", testVisibilityFilter},
		{"Usage", testUsage},
		{"Uploads", testUploads},
		{"UploadOneWriter", testUploadOneWriter},
		{"UploadLimit", testUploadLimit},
		{"ReapUploads", testReapUploads},
		{"JobLeases", testJobLeases},
		{"RateLimits", testRateLimits},
		{"RateLimitsAllOrNone", testRateLimitsAllOrNone},
		{"RateLimitRace", testRateLimitRace},
		{"KnownAddresses", testKnownAddresses},
		{"SigningKeys", testSigningKeys},
		{"Secrets", testSecrets},
		{"Audit", testAudit},
		{"Webhooks", testWebhooks},
		{"TagPolicies", testTagPolicies},
		{"ImmutableTags", testImmutableTags},
		{"ManifestInfos", testManifestInfos},
		{"Orgs", testOrgs},
		{"OrgTokens", testOrgTokens},
		{"OrgHooks", testOrgHooks},
		{"OrgNameRace", testOrgNameRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func dg(s string) digest.Digest { return digest.FromString(s) }

// lease is a lease of holder until at+d.
func lease(holder string, at time.Time, d time.Duration) meta.Lease {
	return meta.Lease{Holder: holder, Until: at.Add(d)}
}

// live makes d a live blob of 10 bytes linked into repo at time at.
func live(t *testing.T, s meta.Store, repo string, d digest.Digest, at time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := s.LinkOrReserve(ctx, repo, d, 10, at, lease("live", at, time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st == meta.BlobAbsent {
		if err := s.PublishBlob(ctx, repo, d, "live", "", at, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func testBlobLifecycle(t *testing.T, s meta.Store) {
	ctx := context.Background()
	d := dg("a")
	if st, err := s.LinkBlob(ctx, "r", d, t0, 0); err != nil || st != meta.BlobAbsent {
		t.Fatalf("LinkBlob of an absent blob = %v, %v", st, err)
	}
	a := lease("writer-a", t0, time.Minute)
	if st, err := s.LinkOrReserve(ctx, "r", d, 10, t0, a, 0); err != nil || st != meta.BlobAbsent {
		t.Fatalf("first LinkOrReserve = %v, %v; want the reservation (absent)", st, err)
	}
	if b, err := s.Blob(ctx, d); err != nil || b.State != meta.BlobPending || !same(b.Lease, a) || b.Size != 10 {
		t.Fatalf("reserved Blob = %+v, %v; want pending under %+v", b, err, a)
	}
	if st, _ := s.LinkBlob(ctx, "other", d, t0, 0); st != meta.BlobPending {
		t.Fatalf("LinkBlob of a pending blob = %v, want pending", st)
	}
	if _, err := s.RepoBlob(ctx, "r", d); !errdefs.IsNotFound(err) {
		t.Fatalf("a pending blob is visible: %v", err)
	}
	if _, err := s.RepoBlob(ctx, "other", d); !errdefs.IsNotFound(err) {
		t.Fatalf("LinkBlob of a pending blob linked it: %v", err)
	}
	if err := s.PublishBlob(ctx, "r", d, "writer-b", "", t0, 0); !errdefs.IsConflict(err) {
		t.Fatalf("publishing a reservation another holds: %v", err)
	}
	// The writer's upload goes in the same transaction; another's stays.
	s.CreateUpload(ctx, meta.Upload{ID: "up-a", Repo: "r", Owner: "o", StartedAt: t0, UpdatedAt: t0, Lease: a}, 0, t0)
	s.CreateUpload(ctx, meta.Upload{ID: "up-x", Repo: "r", Owner: "o", StartedAt: t0, UpdatedAt: t0,
		Lease: lease("writer-x", t0, time.Minute)}, 0, t0)
	if err := s.PublishBlob(ctx, "r", d, "writer-a", "up-a", t0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, "", "up-a"); !errdefs.IsNotFound(err) {
		t.Fatalf("the publishing writer's upload is still there: %v", err)
	}
	if l, err := s.RepoBlob(ctx, "r", d); err != nil || l.Size != 10 {
		t.Fatalf("RepoBlob = %+v, %v", l, err)
	}
	if b, _ := s.Blob(ctx, d); b.State != meta.BlobLive || b.Lease.Holder != "" {
		t.Fatalf("published Blob = %+v; want live, held by nobody", b)
	}
	// A live blob published again (by whoever wrote the same content) is only linked.
	if err := s.PublishBlob(ctx, "third", d, "writer-c", "up-x", t0, 0); err != nil {
		t.Fatalf("publishing a live blob: %v", err)
	}
	if u, err := s.Upload(ctx, "", "up-x"); err != nil || u.Lease.Holder != "writer-x" {
		t.Fatalf("publishing forgot an upload another writer holds: %+v, %v", u, err)
	}
	if _, err := s.RepoBlob(ctx, "third", d); err != nil {
		t.Fatalf("publishing a live blob did not link it: %v", err)
	}
	if st, _ := s.LinkOrReserve(ctx, "other", d, 10, t0, lease("writer-d", t0, time.Minute), 0); st != meta.BlobLive {
		t.Fatalf("LinkOrReserve of a live blob = %v", st)
	}
	if _, err := s.RepoBlob(ctx, "other", d); err != nil {
		t.Fatalf("LinkOrReserve of a live blob did not link it: %v", err)
	}
	if r, err := s.Repository(ctx, "r"); err != nil || r.Visibility != meta.Public || r.Owner != "" {
		t.Fatalf("Repository = %+v, %v; want public with no owner", r, err)
	}
	if err := s.PublishBlob(ctx, "r", dg("never reserved"), "writer-a", "", t0, 0); !errdefs.IsConflict(err) {
		t.Fatalf("publishing an absent blob: %v", err)
	}
}

func testLinksScoped(t *testing.T, s meta.Store) {
	ctx := context.Background()
	d := dg("b")
	live(t, s, "one", d, t0)
	if _, err := s.RepoBlob(ctx, "two", d); !errdefs.IsNotFound(err) {
		t.Fatalf("a blob of one repository is visible in another: %v", err)
	}
	if h, err := s.PublicHolder(ctx, d); err != nil || h != "one" {
		t.Fatalf("PublicHolder = %q, %v", h, err)
	}
	if st, _ := s.LinkBlob(ctx, "two", d, t0, 0); st != meta.BlobLive {
		t.Fatalf("mount: LinkBlob = %v", st)
	}
	if err := s.UnlinkBlob(ctx, "one", d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RepoBlob(ctx, "one", d); !errdefs.IsNotFound(err) {
		t.Fatal("unlinked blob still visible")
	}
	if _, err := s.RepoBlob(ctx, "two", d); err != nil {
		t.Fatalf("unlinking from one repository unlinked another: %v", err)
	}
	if err := s.UnlinkBlob(ctx, "one", d); !errdefs.IsNotFound(err) {
		t.Fatalf("unlinking twice: %v", err)
	}
}

func image(name string, blobs ...digest.Digest) meta.Manifest {
	body := []byte(`{"manifest":"` + name + `"}`)
	return meta.Manifest{Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Content: body, Blobs: blobs, CreatedAt: t0}
}

func testManifestsAndTags(t *testing.T, s meta.Store) {
	ctx := context.Background()
	cfg, layer := dg("cfg"), dg("layer")
	live(t, s, "r", cfg, t0)
	live(t, s, "r", layer, t0)
	m := image("m1", cfg, layer)
	if err := s.PutManifest(ctx, "r", m, []string{"v1", "latest"}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"v1", "latest", m.Digest.String()} {
		got, err := s.Manifest(ctx, "r", ref)
		if err != nil || got.Digest != m.Digest || string(got.Content) != string(m.Content) || got.MediaType != m.MediaType {
			t.Fatalf("Manifest(%s) = %+v, %v", ref, got, err)
		}
	}
	if err := s.UnlinkBlob(ctx, "r", layer); !errdefs.IsConflict(err) {
		t.Fatalf("unlinking a blob a manifest uses: %v", err)
	}
	if err := s.DeleteTag(ctx, "r", "latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(ctx, "r", "latest"); !errdefs.IsNotFound(err) {
		t.Fatal("deleted tag still resolves")
	}
	if _, err := s.Manifest(ctx, "r", "v1"); err != nil {
		t.Fatalf("deleting one tag removed another: %v", err)
	}
	if err := s.DeleteManifest(ctx, "r", m.Digest, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(ctx, "r", "v1"); !errdefs.IsNotFound(err) {
		t.Fatal("a tag outlived its manifest")
	}
	if err := s.DeleteManifest(ctx, "r", m.Digest, false); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := s.UnlinkBlob(ctx, "r", layer); err != nil {
		t.Fatalf("unlinking once the manifest is gone: %v", err)
	}
}

func testMissingReferences(t *testing.T, s meta.Store) {
	ctx := context.Background()
	have := dg("have")
	live(t, s, "r", have, t0)
	live(t, s, "elsewhere", dg("theirs"), t0)
	m := image("m", have, dg("theirs"), dg("nowhere"))
	err := s.PutManifest(ctx, "r", m, []string{"t"})
	var missing *meta.MissingError
	if !errors.As(err, &missing) || !slices.Equal(missing.Blobs, []digest.Digest{dg("theirs"), dg("nowhere")}) {
		t.Fatalf("PutManifest = %v, want the two missing blobs", err)
	}
	idx := image("index")
	idx.Children = []digest.Digest{dg("no such manifest")}
	if err := s.PutManifest(ctx, "r", idx, nil); !errors.As(err, &missing) || len(missing.Manifests) != 1 {
		t.Fatalf("PutManifest of an index with a missing child = %v", err)
	}
	if _, err := s.Manifest(ctx, "r", "t"); !errdefs.IsNotFound(err) {
		t.Fatal("a refused manifest left its tag behind")
	}
}

func testReferrers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	subject := dg("subject, never pushed")
	for i, at := range []string{"application/sig", "application/sbom", "application/sig"} {
		m := image(string(rune('a' + i)))
		m.Subject, m.ArtifactType, m.Annotations = subject, at, map[string]string{"n": at}
		if err := s.PutManifest(ctx, "r", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Referrers(ctx, "r", subject, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("Referrers = %v, %v", all, err)
	}
	sigs, _ := s.Referrers(ctx, "r", subject, "application/sig")
	if len(sigs) != 2 || sigs[0].ArtifactType != "application/sig" || sigs[0].Annotations["n"] != "application/sig" || sigs[0].Size == 0 {
		t.Fatalf("filtered Referrers = %+v", sigs)
	}
	if none, err := s.Referrers(ctx, "no/such/repo", subject, ""); err != nil || len(none) != 0 {
		t.Fatalf("Referrers in an unknown repository = %v, %v", none, err)
	}
}

func testPaging(t *testing.T, s meta.Store) {
	ctx := context.Background()
	live(t, s, "r", dg("c"), t0)
	m := image("paged", dg("c"))
	tags := []string{"b", "a", "C", "c", "a-1"}
	if err := s.PutManifest(ctx, "r", m, tags); err != nil {
		t.Fatal(err)
	}
	got, more, err := s.Tags(ctx, "r", meta.Page{N: -1})
	if err != nil || more || !slices.Equal(got, []string{"C", "a", "a-1", "b", "c"}) {
		t.Fatalf("Tags = %v, %v, %v", got, more, err)
	}
	got, more, _ = s.Tags(ctx, "r", meta.Page{Last: "a", N: 2})
	if !more || !slices.Equal(got, []string{"a-1", "b"}) {
		t.Fatalf("Tags after a, 2 = %v, more %v", got, more)
	}
	got, more, _ = s.Tags(ctx, "r", meta.Page{Last: "b", N: 2})
	if more || !slices.Equal(got, []string{"c"}) {
		t.Fatalf("last page = %v, more %v", got, more)
	}
	if got, _, _ := s.Tags(ctx, "r", meta.Page{N: 0}); len(got) != 0 {
		t.Fatalf("n=0 gave %v", got)
	}
	if _, _, err := s.Tags(ctx, "nope", meta.Page{N: -1}); !errdefs.IsNotFound(err) {
		t.Fatalf("Tags of an unknown repository: %v", err)
	}
	live(t, s, "a/b", dg("x"), t0)
	repos, more, _ := s.ListRepositories(ctx, meta.RepoFilter{All: true}, meta.Page{N: 1})
	if !more || len(repos) != 1 || repos[0].Name != "a/b" {
		t.Fatalf("ListRepositories = %v, more %v", repos, more)
	}
	repos, more, _ = s.ListRepositories(ctx, meta.RepoFilter{All: true}, meta.Page{Last: "a/b", N: 5})
	if more || len(repos) != 1 || repos[0].Name != "r" || repos[0].Tags != 5 || !repos[0].LastPushed.Equal(t0) {
		t.Fatalf("ListRepositories after a/b = %+v, more %v", repos, more)
	}
}

func testGarbage(t *testing.T, s meta.Store) {
	ctx := context.Background()
	used, old, fresh, shared := dg("used"), dg("old"), dg("fresh"), dg("shared")
	live(t, s, "r", used, t0)
	s.PutManifest(ctx, "r", image("keeper", used), []string{"k"})
	live(t, s, "r", old, t0)
	live(t, s, "r", fresh, t0.Add(2*time.Hour))
	live(t, s, "r", shared, t0)
	live(t, s, "s", shared, t0.Add(2*time.Hour)) // recently linked elsewhere
	cutoff := t0.Add(time.Hour)
	g, err := s.FindGarbage(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Blobs) != 1 || g.Blobs[0].Digest != old || len(g.Links) != 2 {
		t.Fatalf("FindGarbage = %+v; want blob old, links old and shared in r", g)
	}
	if again, _ := s.FindGarbage(ctx, cutoff); len(again.Blobs) != 1 {
		t.Fatal("FindGarbage changed something")
	}
	gc := lease("gc-1", cutoff, time.Minute)
	if g, err = s.CollectGarbage(ctx, cutoff, cutoff, gc); err != nil || len(g.Blobs) != 1 || len(g.Links) != 2 {
		t.Fatalf("CollectGarbage = %+v, %v", g, err)
	}
	if b, _ := s.Blob(ctx, old); b.State != meta.BlobDeleting || !same(b.Lease, gc) {
		t.Fatalf("a collected blob = %+v; want deleting under %+v", b, gc)
	}
	if st, _ := s.LinkOrReserve(ctx, "r", old, 10, cutoff, lease("w", cutoff, time.Minute), 0); st != meta.BlobDeleting {
		t.Fatalf("a blob being deleted could be linked or reserved: %v", st)
	}
	if g2, _ := s.CollectGarbage(ctx, cutoff, cutoff, lease("gc-2", cutoff, time.Minute)); len(g2.Blobs) != 0 {
		t.Fatalf("a second collector claimed %v too", g2.Blobs)
	}
	if err := s.ForgetBlob(ctx, old, "gc-2"); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Blob(ctx, old); b.State != meta.BlobDeleting {
		t.Fatal("ForgetBlob forgot a blob another collector holds")
	}
	if err := s.ForgetBlob(ctx, old, "gc-1"); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []digest.Digest{used, fresh} {
		if _, err := s.RepoBlob(ctx, "r", keep); err != nil {
			t.Fatalf("collection took %s: %v", keep, err)
		}
	}
	if _, err := s.RepoBlob(ctx, "s", shared); err != nil {
		t.Fatalf("collection took the fresh link of shared: %v", err)
	}
	if st, _ := s.LinkOrReserve(ctx, "r", old, 10, cutoff, lease("w", cutoff, time.Minute), 0); st != meta.BlobAbsent {
		t.Fatalf("after Forget the blob can be pushed again: %v", st)
	}
	orphan := dg("orphan")
	if ok, err := s.ClaimOrphan(ctx, orphan, 0, cutoff, gc); !ok || err != nil {
		t.Fatalf("ClaimOrphan = %v, %v", ok, err)
	}
	if b, _ := s.Blob(ctx, orphan); b.State != meta.BlobDeleting || !same(b.Lease, gc) {
		t.Fatalf("a claimed orphan = %+v", b)
	}
	if ok, _ := s.ClaimOrphan(ctx, used, 0, cutoff, gc); ok {
		t.Fatal("ClaimOrphan claimed a recorded blob")
	}
	if st, _ := s.LinkOrReserve(ctx, "r", orphan, 10, cutoff, lease("w", cutoff, time.Minute), 0); st != meta.BlobDeleting {
		t.Fatalf("a claimed orphan could be reserved: %v", st)
	}
}

// same reports whether two leases are one: the same holder until the same instant.
func same(a, b meta.Lease) bool { return a.Holder == b.Holder && a.Until.Equal(b.Until) }
