package metatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func upload(id, repo, owner string, at time.Time) meta.Upload {
	return meta.Upload{ID: id, Repo: repo, Owner: owner, StartedAt: at, UpdatedAt: at}
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := s.CreateUpload(ctx, upload("u1", "r", "alice", t0), 0, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Upload(ctx, "r", "u1")
	if err != nil || got.Owner != "alice" || got.Offset != 0 || !got.StartedAt.Equal(t0) || got.Lease.Holder != "" {
		t.Fatalf("Upload = %+v, %v", got, err)
	}
	if _, err := s.Upload(ctx, "other", "u1"); !errdefs.IsNotFound(err) {
		t.Fatalf("an upload seen from another repository: %v", err)
	}
	if u, err := s.Upload(ctx, "", "u1"); err != nil || u.Repo != "r" {
		t.Fatalf("Upload in any repository = %+v, %v", u, err)
	}
	if _, err := s.Upload(ctx, "r", "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("an unknown upload: %v", err)
	}
	if _, err := s.LeaseUpload(ctx, "other", "u1", t0, lease("a", t0, time.Minute)); !errdefs.IsNotFound(err) {
		t.Fatalf("leasing an upload from another repository: %v", err)
	}
	a := lease("a", t0, 30*time.Second)
	if u, err := s.LeaseUpload(ctx, "r", "u1", t0, a); err != nil || !same(u.Lease, a) {
		t.Fatalf("LeaseUpload = %+v, %v", u, err)
	}
	state := []byte("the hash so far, and where the parts went")
	if err := s.UpdateUpload(ctx, "u1", "a", 5, state, t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Upload(ctx, "r", "u1")
	if got.Offset != 5 || !got.UpdatedAt.Equal(t0.Add(5*time.Second)) || !got.StartedAt.Equal(t0) || !bytes.Equal(got.State, state) {
		t.Fatalf("after UpdateUpload: %+v", got)
	}
	if got.Lease.Holder != "" {
		t.Fatalf("UpdateUpload kept the writer's lease: %+v", got.Lease)
	}
	if err := s.UpdateUpload(ctx, "u1", "a", 6, nil, t0.Add(6*time.Second)); !errdefs.IsConflict(err) {
		t.Fatalf("a writer recorded again after UpdateUpload ended its lease: %v", err)
	}
	b := lease("b", t0, 30*time.Second)
	if u, err := s.LeaseUpload(ctx, "r", "u1", t0.Add(6*time.Second), b); err != nil || u.Offset != 5 || !bytes.Equal(u.State, state) {
		t.Fatalf("the next writer's LeaseUpload = %+v, %v; want offset 5 and the state recorded", u, err)
	}
	if err := s.DeleteUpload(ctx, "u1", "a"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting an upload another writes: %v", err)
	}
	if err := s.DeleteUpload(ctx, "u1", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, "r", "u1"); !errdefs.IsNotFound(err) {
		t.Fatalf("a deleted upload: %v", err)
	}
	if err := s.DeleteUpload(ctx, "u1", "b"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := s.CreateUpload(ctx, upload("u2", "r", "alice", t0), 0, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx, upload("u2", "r", "bob", t0), 0, t0); err == nil {
		t.Fatal("two uploads with one id")
	}
}

// One writer at a time: a lease another holds refuses the next writer
// until it lapses or is released, and a writer whose lease was taken can
// record nothing more (its writes are fenced off).
func testUploadOneWriter(t *testing.T, s meta.Store) {
	ctx := context.Background()
	s.CreateUpload(ctx, upload("u", "r", "alice", t0), 0, t0)
	s.LeaseUpload(ctx, "r", "u", t0, lease("a", t0, 30*time.Second))
	if _, err := s.LeaseUpload(ctx, "r", "u", t0.Add(10*time.Second), lease("b", t0, time.Minute)); !errdefs.IsConflict(err) {
		t.Fatalf("a second writer while the first's lease holds: %v", err)
	}
	if err := s.UpdateUpload(ctx, "u", "b", 7, nil, t0); !errdefs.IsConflict(err) {
		t.Fatalf("a writer without the lease recorded an offset: %v", err)
	}
	if _, err := s.LeaseUpload(ctx, "r", "u", t0.Add(10*time.Second), lease("a", t0, time.Minute)); err != nil {
		t.Fatalf("renewing one's own lease: %v", err)
	}
	// a stalls past its lease; b takes over; a's late record is refused.
	late := t0.Add(time.Minute)
	if _, err := s.LeaseUpload(ctx, "r", "u", late, lease("b", late, 30*time.Second)); err != nil {
		t.Fatalf("taking over a lapsed lease: %v", err)
	}
	if err := s.UpdateUpload(ctx, "u", "a", 9, nil, late); !errdefs.IsConflict(err) {
		t.Fatalf("a writer whose lease was taken over recorded an offset: %v", err)
	}
	if err := s.ReleaseUpload(ctx, "u", "a"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Upload(ctx, "r", "u"); u.Lease.Holder != "b" {
		t.Fatalf("a released b's lease: %+v", u.Lease)
	}
	if err := s.ReleaseUpload(ctx, "u", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateUpload(ctx, "u", "b", 9, nil, late); !errdefs.IsConflict(err) {
		t.Fatalf("a writer recorded after releasing: %v", err)
	}
	if _, err := s.LeaseUpload(ctx, "r", "u", late, lease("c", late, 30*time.Second)); err != nil {
		t.Fatalf("leasing a released upload: %v", err)
	}
	// Writers racing for one upload: exactly one gets it.
	s.CreateUpload(ctx, upload("raced", "r", "alice", t0), 0, t0)
	won := race(10, func(i int) bool {
		_, err := s.LeaseUpload(ctx, "r", "raced", t0, lease(fmt.Sprint("w", i), t0, time.Minute))
		if err != nil && !errdefs.IsConflict(err) {
			t.Error(err)
		}
		return err == nil
	})
	if won != 1 {
		t.Fatalf("%d writers leased one upload at once", won)
	}
}

// An owner has at most limit uploads active since a time, whoever races.
func testUploadLimit(t *testing.T, s meta.Store) {
	ctx := context.Background()
	for i := range 2 {
		if err := s.CreateUpload(ctx, upload(fmt.Sprint("old", i), "r", "alice", t0), 2, t0); err != nil {
			t.Fatal(err)
		}
	}
	var le *meta.LimitError
	err := s.CreateUpload(ctx, upload("third", "r", "alice", t0), 2, t0)
	if !errors.As(err, &le) || le.Limit != 2 || le.Owner != "alice" {
		t.Fatalf("a third upload with a limit of 2: %v", err)
	}
	if _, err := s.Upload(ctx, "r", "third"); !errdefs.IsNotFound(err) {
		t.Fatalf("a refused upload was recorded: %v", err)
	}
	if err := s.CreateUpload(ctx, upload("bobs", "r", "bob", t0), 2, t0); err != nil {
		t.Fatalf("another owner's upload: %v", err)
	}
	// Uploads idle since before activeSince do not count.
	at := t0.Add(time.Hour)
	if err := s.CreateUpload(ctx, upload("later", "r", "alice", at), 2, at); err != nil {
		t.Fatalf("with the old uploads idle: %v", err)
	}
	ok := race(10, func(i int) bool {
		return s.CreateUpload(ctx, upload(fmt.Sprint("c", i), "r", "carol", t0), 3, t0) == nil
	})
	if ok != 3 {
		t.Fatalf("%d of carol's racing uploads were taken with a limit of 3", ok)
	}
}

// The collector reaps uploads idle since before a time that no writer holds.
func testReapUploads(t *testing.T, s meta.Store) {
	ctx := context.Background()
	s.CreateUpload(ctx, upload("idle", "r", "alice", t0), 0, t0)
	s.CreateUpload(ctx, upload("held", "r", "alice", t0), 0, t0)
	s.CreateUpload(ctx, upload("fresh", "r", "alice", t0.Add(2*time.Hour)), 0, t0)
	s.LeaseUpload(ctx, "r", "held", t0, lease("w", t0, 3*time.Hour))
	now := t0.Add(2 * time.Hour)
	got, err := s.ReapUploads(ctx, t0.Add(time.Hour), now)
	if err != nil || len(got) != 1 || got[0].ID != "idle" {
		t.Fatalf("ReapUploads = %+v, %v; want idle only", got, err)
	}
	if _, err := s.Upload(ctx, "r", "idle"); !errdefs.IsNotFound(err) {
		t.Fatalf("a reaped upload: %v", err)
	}
	for _, id := range []string{"held", "fresh"} {
		if _, err := s.Upload(ctx, "r", id); err != nil {
			t.Fatalf("%s was reaped: %v", id, err)
		}
	}
	if got, _ := s.ReapUploads(ctx, t0.Add(time.Hour), t0.Add(4*time.Hour)); len(got) != 1 || got[0].ID != "held" {
		t.Fatalf("once its writer's lease lapsed: %+v", got)
	}
}

func testJobLeases(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := s.AcquireLease(ctx, "gc", t0, lease("a", t0, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireLease(ctx, "gc", t0.Add(time.Second), lease("b", t0, 2*time.Minute)); !errdefs.IsConflict(err) {
		t.Fatalf("a second holder: %v", err)
	}
	if err := s.AcquireLease(ctx, "scrub", t0, lease("b", t0, time.Minute)); err != nil {
		t.Fatalf("another lease: %v", err)
	}
	if err := s.AcquireLease(ctx, "gc", t0.Add(50*time.Second), lease("a", t0, 2*time.Minute)); err != nil {
		t.Fatalf("renewing: %v", err)
	}
	if err := s.AcquireLease(ctx, "gc", t0.Add(90*time.Second), lease("b", t0, 3*time.Minute)); !errdefs.IsConflict(err) {
		t.Fatalf("taking a renewed lease: %v", err)
	}
	if err := s.AcquireLease(ctx, "gc", t0.Add(2*time.Minute), lease("b", t0, 3*time.Minute)); err != nil {
		t.Fatalf("taking a lapsed lease: %v", err)
	}
	s.ReleaseLease(ctx, "gc", "a")
	if err := s.AcquireLease(ctx, "gc", t0.Add(2*time.Minute), lease("c", t0, 3*time.Minute)); !errdefs.IsConflict(err) {
		t.Fatalf("a released b's lease: %v", err)
	}
	s.ReleaseLease(ctx, "gc", "b")
	won := race(10, func(i int) bool {
		return s.AcquireLease(ctx, "gc", t0.Add(2*time.Minute), lease(fmt.Sprint("r", i), t0, time.Hour)) == nil
	})
	if won != 1 {
		t.Fatalf("%d holders took a released lease at once", won)
	}
}

func testRateLimits(t *testing.T, s meta.Store) {
	ctx := context.Background()
	k := meta.RateKey{Key: "addr 192.0.2.1", Burst: 3, Every: 10 * time.Second}
	for i := range 3 {
		if wait, err := s.Reserve(ctx, t0, k); err != nil || wait != 0 {
			t.Fatalf("attempt %d of a burst of 3: wait %v, %v", i+1, wait, err)
		}
	}
	if wait, _ := s.Reserve(ctx, t0, k); wait != 10*time.Second {
		t.Fatalf("the 4th attempt: wait %v, want 10s", wait)
	}
	if wait, _ := s.Reserve(ctx, t0.Add(4*time.Second), k); wait != 6*time.Second {
		t.Fatalf("4s later: wait %v, want 6s", wait)
	}
	if wait, _ := s.Reserve(ctx, t0.Add(10*time.Second), k); wait != 0 {
		t.Fatalf("one attempt comes back per 10s: wait %v", wait)
	}
	if wait, _ := s.Reserve(ctx, t0.Add(10*time.Second), k); wait == 0 {
		t.Fatal("two attempts came back in 10s")
	}
	other := meta.RateKey{Key: "addr 192.0.2.2", Burst: 1, Every: time.Hour}
	if wait, _ := s.Reserve(ctx, t0, other); wait != 0 {
		t.Fatalf("keys are not independent: %v", wait)
	}
	// A refunded attempt (a sign-in that succeeded) counts for nothing.
	if err := s.Refund(ctx, t0, other); err != nil {
		t.Fatal(err)
	}
	if wait, _ := s.Reserve(ctx, t0, other); wait != 0 {
		t.Fatalf("after a refund: wait %v", wait)
	}
	if wait, _ := s.Reserve(ctx, t0.Add(time.Hour), meta.RateKey{Key: "unlimited"}); wait != 0 {
		t.Fatal("a key without a burst is limited")
	}
}

func testRateLimitsAllOrNone(t *testing.T, s meta.Store) {
	ctx := context.Background()
	tight := meta.RateKey{Key: "tight", Burst: 1, Every: time.Minute}
	loose := meta.RateKey{Key: "loose", Burst: 3, Every: time.Minute}
	if wait, _ := s.Reserve(ctx, t0, tight, loose); wait != 0 {
		t.Fatal("the first attempt")
	}
	if wait, _ := s.Reserve(ctx, t0, tight, loose); wait != time.Minute {
		t.Fatalf("with tight spent: wait %v", wait)
	}
	for i := range 2 { // loose lost only the one attempt both took
		if wait, _ := s.Reserve(ctx, t0, loose); wait != 0 {
			t.Fatalf("loose attempt %d: a refused reservation took from it", i+2)
		}
	}
}

// Parallel attempts take exactly the burst: a failure is counted before
// it is checked, so a flood cannot slip past in between.
func testRateLimitRace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	k := meta.RateKey{Key: "flood", Burst: 10, Every: time.Hour}
	ok := race(50, func(int) bool {
		wait, err := s.Reserve(ctx, t0, k)
		return err == nil && wait == 0
	})
	if ok != 10 {
		t.Fatalf("%d of 50 parallel attempts got through a burst of 10", ok)
	}
}

func testKnownAddresses(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := s.RememberAddress(ctx, "alice", "192.0.2.1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, addr string
		at         time.Time
		want       bool
	}{
		{"alice", "192.0.2.1", t0, true},
		{"alice", "192.0.2.1", t0.Add(time.Hour), false},
		{"alice", "192.0.2.2", t0, false},
		{"bob", "192.0.2.1", t0, false},
	} {
		if got, err := s.KnownAddress(ctx, tc.user, tc.addr, tc.at); err != nil || got != tc.want {
			t.Errorf("KnownAddress(%s, %s, %v) = %v, %v", tc.user, tc.addr, tc.at, got, err)
		}
	}
	s.RememberAddress(ctx, "alice", "192.0.2.1", t0) // an earlier memory does not shorten a later one
	if got, _ := s.KnownAddress(ctx, "alice", "192.0.2.1", t0.Add(time.Minute)); !got {
		t.Fatal("remembering again shortened the memory")
	}
}

// race runs fn(0..n-1) at once and counts how many returned true.
func race(n int, fn func(i int) bool) int {
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fn(i) {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load())
}
