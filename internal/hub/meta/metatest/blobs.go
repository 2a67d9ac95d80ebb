package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// A pending record is a lease that another writer may take over at any
// time (writers verify content before they commit it, so they write the
// same bytes): only the current holder publishes, renews or releases it.
func testBlobTakeOver(t *testing.T, s meta.Store) {
	ctx := context.Background()
	d := dg("taken over")
	a, b := lease("a", t0, time.Minute), lease("b", t0.Add(time.Second), time.Minute)
	if st, _ := s.LinkOrReserve(ctx, "r", d, 10, t0, a, 0); st != meta.BlobAbsent {
		t.Fatalf("a's reservation: %v", st)
	}
	// b takes it over while a's lease still holds (a crashed, or is slow).
	if st, err := s.LinkOrReserve(ctx, "r2", d, 10, t0.Add(time.Second), b, 0); err != nil || st != meta.BlobAbsent {
		t.Fatalf("b's reservation of a pending blob = %v, %v; want it taken over (absent)", st, err)
	}
	if got, _ := s.Blob(ctx, d); !same(got.Lease, b) || got.State != meta.BlobPending {
		t.Fatalf("after the take-over: %+v; want pending under %+v", got, b)
	}
	if err := s.RenewBlob(ctx, d, lease("a", t0, 2*time.Minute)); !errdefs.IsConflict(err) {
		t.Fatalf("a renewed a lease b took: %v", err)
	}
	if err := s.PublishBlob(ctx, "r", d, "a", "", t0, 0); !errdefs.IsConflict(err) {
		t.Fatalf("a published a reservation b took: %v", err)
	}
	if err := s.ReleaseBlob(ctx, d, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Blob(ctx, d); got.State != meta.BlobPending || !same(got.Lease, b) {
		t.Fatalf("a released b's reservation: %+v", got)
	}
	renewed := lease("b", t0, 3*time.Minute)
	if err := s.RenewBlob(ctx, d, renewed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Blob(ctx, d); !got.Lease.Until.Equal(renewed.Until) {
		t.Fatalf("after renewing: %+v", got.Lease)
	}
	if err := s.PublishBlob(ctx, "r2", d, "b", "", t0, 0); err != nil {
		t.Fatal(err)
	}
	// a, done committing the same bytes, publishes: the blob is live, so a links it.
	if err := s.PublishBlob(ctx, "r", d, "a", "", t0, 0); err != nil {
		t.Fatalf("publishing after another writer did: %v", err)
	}
	for _, repo := range []string{"r", "r2"} {
		if _, err := s.RepoBlob(ctx, repo, d); err != nil {
			t.Errorf("%s lacks the blob: %v", repo, err)
		}
	}
	if err := s.RenewBlob(ctx, d, renewed); !errdefs.IsConflict(err) {
		t.Fatalf("renewing a live blob's lease: %v", err)
	}
	// A reservation given up (its content was never committed) is gone.
	e := dg("released")
	s.LinkOrReserve(ctx, "r", e, 10, t0, a, 0)
	if err := s.ReleaseBlob(ctx, e, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blob(ctx, e); !errdefs.IsNotFound(err) {
		t.Fatalf("a released reservation: %v", err)
	}
}

// Writers racing on one digest: every one either links the live blob or
// holds a reservation it can publish only while it is still the holder,
// and at the end the blob is live and linked into every repository whose
// writer succeeded.
func testBlobWritersRace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	d := dg("raced")
	errs := make([]error, 8)
	race(len(errs), func(i int) bool {
		holder, repo := fmt.Sprint("w", i), fmt.Sprint("r", i)
		for range 100 {
			st, err := s.LinkOrReserve(ctx, repo, d, 10, t0, lease(holder, t0, time.Minute), 0)
			if err != nil || st == meta.BlobLive {
				errs[i] = err
				return err == nil
			}
			if err = s.PublishBlob(ctx, repo, d, holder, "", t0, 0); !errdefs.IsConflict(err) {
				errs[i] = err
				return err == nil
			}
		}
		errs[i] = fmt.Errorf("%s never published nor linked", holder)
		return false
	})
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RepoBlob(ctx, fmt.Sprint("r", i), d); err != nil {
			t.Errorf("writer %d succeeded but r%d lacks the blob: %v", i, i, err)
		}
	}
	if b, _ := s.Blob(ctx, d); b.State != meta.BlobLive {
		t.Fatalf("after the race: %+v", b)
	}
}

// A quarantined blob is not served and not linked anew, keeps its links
// and manifests, and the next upload of the content heals it.
func testQuarantine(t *testing.T, s meta.Store) {
	ctx := context.Background()
	d := dg("damaged")
	live(t, s, "r", d, t0)
	live(t, s, "s", d, t0)
	if err := s.PutManifest(ctx, "r", image("uses damaged", d), []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.QuarantineBlob(ctx, d, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Blob(ctx, d); b.State != meta.BlobQuarantined || !b.CreatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("quarantined Blob = %+v", b)
	}
	for _, repo := range []string{"r", "s"} {
		if _, err := s.RepoBlob(ctx, repo, d); !errdefs.IsNotFound(err) {
			t.Fatalf("a quarantined blob is served in %s: %v", repo, err)
		}
	}
	if st, _ := s.LinkBlob(ctx, "t", d, t0, 0); st != meta.BlobQuarantined {
		t.Fatalf("LinkBlob of a quarantined blob = %v", st)
	}
	if _, err := s.Manifest(ctx, "r", "v1"); err != nil {
		t.Fatalf("quarantine took a manifest: %v", err)
	}
	if err := s.QuarantineBlob(ctx, d, t0); !errdefs.IsNotFound(err) {
		t.Fatalf("quarantining twice: %v", err)
	}
	if err := s.QuarantineBlob(ctx, dg("absent"), t0); !errdefs.IsNotFound(err) {
		t.Fatalf("quarantining an absent blob: %v", err)
	}
	// An honest upload of the content, in any repository, heals it everywhere.
	heal := lease("healer", t0, time.Minute)
	if st, _ := s.LinkOrReserve(ctx, "t", d, 10, t0, heal, 0); st != meta.BlobAbsent {
		t.Fatalf("reserving a quarantined blob = %v; want the reservation", st)
	}
	if err := s.PublishBlob(ctx, "t", d, "healer", "", t0, 0); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"r", "s", "t"} {
		if _, err := s.RepoBlob(ctx, repo, d); err != nil {
			t.Errorf("after healing, %s lacks the blob: %v", repo, err)
		}
	}
}

// Blobs lists live and quarantined blobs in digest order, in pages.
func testBlobListing(t *testing.T, s meta.Store) {
	ctx := context.Background()
	var want []digest.Digest
	for i := range 5 {
		d := dg(fmt.Sprint("listed", i))
		live(t, s, "r", d, t0)
		want = append(want, d)
	}
	slices.Sort(want)
	s.QuarantineBlob(ctx, want[1], t0)
	s.LinkOrReserve(ctx, "r", dg("pending"), 10, t0, lease("w", t0, time.Minute), 0)
	var got []digest.Digest
	after := digest.Digest("")
	for {
		page, err := s.Blobs(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, b := range page {
			got = append(got, b.Digest)
			if b.Size != 10 || (b.State != meta.BlobLive && b.State != meta.BlobQuarantined) {
				t.Errorf("listed %+v", b)
			}
		}
		after = page[len(page)-1].Digest
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Blobs in pages of 2 = %v, want %v", got, want)
	}
}

// Quotas count the distinct blobs a namespace links; a link or a
// reservation past the quota changes nothing.
func testQuota(t *testing.T, s meta.Store) {
	ctx := context.Background()
	const quota = 25
	x, y, z, w := dg("x"), dg("y"), dg("z"), dg("w")
	w1 := lease("w1", t0, time.Minute)
	for _, step := range []struct {
		repo string
		d    digest.Digest
	}{{"alice/a", x}, {"alice/b", x}, {"alice/a", y}} {
		st, err := s.LinkOrReserve(ctx, step.repo, step.d, 10, t0, w1, quota)
		if err == nil && st == meta.BlobAbsent {
			err = s.PublishBlob(ctx, step.repo, step.d, "w1", "", t0, quota)
		}
		if err != nil {
			t.Fatalf("%s into %s: %v", step.d, step.repo, err)
		}
	}
	if used, err := s.NamespaceUsage(ctx, "alice"); err != nil || used != 20 {
		t.Fatalf("alice's usage = %d, %v; want 20 (x counted once)", used, err)
	}
	var qe *meta.QuotaError
	_, err := s.LinkOrReserve(ctx, "alice/c", z, 10, t0, w1, quota)
	if !errors.As(err, &qe) || *qe != (meta.QuotaError{Namespace: "alice", Used: 20, Adding: 10, Quota: quota}) || !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("reserving past the quota: %v", err)
	}
	if _, err := s.Blob(ctx, z); !errdefs.IsNotFound(err) {
		t.Fatalf("a refused reservation left a record: %v", err)
	}
	if _, err := s.Repository(ctx, "alice/c"); !errdefs.IsNotFound(err) {
		t.Fatalf("a refused reservation made a repository: %v", err)
	}
	live(t, s, "bob/x", w, t0)
	if _, err := s.LinkBlob(ctx, "alice/a", w, t0, quota); !errors.As(err, &qe) {
		t.Fatalf("mounting past the quota: %v", err)
	}
	if _, err := s.RepoBlob(ctx, "alice/a", w); !errdefs.IsNotFound(err) {
		t.Fatalf("a refused mount linked the blob: %v", err)
	}
	if _, err := s.LinkBlob(ctx, "alice/c", x, t0, quota); err != nil {
		t.Fatalf("linking what the namespace has already: %v", err)
	}
	// A reservation within the quota, then the namespace grows past it
	// before the publish: the publish is refused and the blob stays pending.
	s.LinkOrReserve(ctx, "carol/a", x, 10, t0, w1, 15)
	if _, err := s.LinkOrReserve(ctx, "carol/a", z, 10, t0, lease("w2", t0, time.Minute), 15); err == nil {
		t.Fatal("reserving past carol's quota")
	}
	if _, err := s.LinkOrReserve(ctx, "dave/a", z, 10, t0, lease("w2", t0, time.Minute), 15); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishBlob(ctx, "carol/a", z, "w2", "", t0, 15); !errors.As(err, &qe) {
		t.Fatalf("publishing past the quota: %v", err)
	}
	if b, _ := s.Blob(ctx, z); b.State != meta.BlobPending {
		t.Fatalf("a refused publish changed the blob: %+v", b)
	}
	// A single-component name is its own namespace.
	live(t, s, "solo", dg("solo"), t0)
	if used, _ := s.NamespaceUsage(ctx, "solo"); used != 10 || meta.Namespace("solo") != "solo" || meta.Namespace("a/b/c") != "a" {
		t.Fatalf("solo's usage = %d", used)
	}
}

// Publishes racing into one namespace never take it past its quota.
func testQuotaRace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	const quota = 55
	ok := race(16, func(i int) bool {
		d, holder, repo := dg(fmt.Sprint("q", i)), fmt.Sprint("w", i), fmt.Sprintf("alice/r%d", i%3)
		st, err := s.LinkOrReserve(ctx, repo, d, 10, t0, lease(holder, t0, time.Minute), quota)
		if err == nil && st == meta.BlobAbsent {
			err = s.PublishBlob(ctx, repo, d, holder, "", t0, quota)
		}
		var qe *meta.QuotaError
		if err != nil && !errors.As(err, &qe) {
			t.Error(err)
		}
		return err == nil
	})
	if used, _ := s.NamespaceUsage(ctx, "alice"); used != 50 || ok != 5 {
		t.Fatalf("%d publishes succeeded, usage %d; want 5 and 50 within the quota of %d", ok, used, quota)
	}
}

// Deleting claims are leases too: a collector that is gone leaves claims
// that writers and other collectors take over once they lapse; pending
// blobs whose writer is gone are collected once their lease lapses.
func testGarbageLeases(t *testing.T, s meta.Store) {
	ctx := context.Background()
	gone := dg("collector gone")
	live(t, s, "r", gone, t0)
	s.UnlinkBlob(ctx, "r", gone)
	at := t0.Add(2 * time.Hour)
	if g, _ := s.CollectGarbage(ctx, at, at, lease("gc-1", at, time.Minute)); len(g.Blobs) != 1 {
		t.Fatalf("collected %+v", g.Blobs)
	}
	// gc-1 dies. Its claim lapses; a writer then takes the blob over.
	later := at.Add(2 * time.Minute)
	if st, _ := s.LinkOrReserve(ctx, "r", gone, 10, later, lease("w", later, time.Minute), 0); st != meta.BlobAbsent {
		t.Fatalf("reserving a blob whose collector's lease lapsed = %v; want the reservation", st)
	}
	s.ForgetBlob(ctx, gone, "gc-1")
	if b, _ := s.Blob(ctx, gone); b.State != meta.BlobPending || b.Lease.Holder != "w" {
		t.Fatalf("the dead collector's Forget took a writer's reservation: %+v", b)
	}
	// The writer dies too: its reservation is collected once it lapses, not before.
	if g, _ := s.CollectGarbage(ctx, later.Add(30*time.Second), later, lease("gc-2", later, time.Minute)); len(g.Blobs) != 0 {
		t.Fatalf("a reservation whose lease holds was collected: %+v", g.Blobs)
	}
	end := later.Add(time.Minute)
	g, err := s.CollectGarbage(ctx, end, later, lease("gc-2", end, time.Minute))
	if err != nil || len(g.Blobs) != 1 || g.Blobs[0].Digest != gone {
		t.Fatalf("a lapsed reservation: %+v, %v", g.Blobs, err)
	}
	if b, _ := s.Blob(ctx, gone); b.State != meta.BlobDeleting || b.Lease.Holder != "gc-2" {
		t.Fatalf("after collecting a lapsed reservation: %+v", b)
	}
	// Quarantined blobs no manifest uses are garbage like live ones.
	bad := dg("quarantined garbage")
	live(t, s, "r", bad, t0)
	s.QuarantineBlob(ctx, bad, t0)
	if g, _ := s.FindGarbage(ctx, at); !slices.ContainsFunc(g.Blobs, func(b meta.Blob) bool { return b.Digest == bad }) {
		t.Fatalf("a quarantined blob is not garbage: %+v", g)
	}
}
