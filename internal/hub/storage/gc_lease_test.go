package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Collections run once per interval for a hub, whichever node asks and
// however many; one that a dead node held is taken over once its lease
// lapses, and a manual collection counts as the hub's last.
func TestCollectGarbageDue(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	dir := t.TempDir()
	nodeA, nodeB := open(t, dir, c), open(t, dir, c) // two nodes on one database and store
	if _, ran, err := nodeA.store.CollectGarbageDue(ctx, time.Hour); err != nil || !ran {
		t.Fatalf("the hub's first collection: ran %v, %v", ran, err)
	}
	if _, ran, err := nodeB.store.CollectGarbageDue(ctx, time.Hour); err != nil || ran {
		t.Fatalf("another node right after: ran %v, %v", ran, err)
	}
	c.Advance(time.Hour)
	// A node died collecting: its lease holds until it lapses.
	now := c.Now()
	if err := nodeA.meta.AcquireLease(ctx, "gc", now, meta.Lease{Holder: "dead node", Until: now.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := nodeB.store.CollectGarbageDue(ctx, time.Hour); !errors.Is(err, storage.ErrCollecting) || ran {
		t.Fatalf("while the dead node's lease holds: ran %v, %v", ran, err)
	}
	c.Advance(30 * time.Second)
	if _, ran, err := nodeB.store.CollectGarbageDue(ctx, time.Hour); err != nil || !ran {
		t.Fatalf("after it lapsed: ran %v, %v", ran, err)
	}
	c.Advance(time.Hour)
	if _, err := nodeA.store.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, ran, _ := nodeB.store.CollectGarbageDue(ctx, time.Hour); ran {
		t.Fatal("a collection ran right after a manual one")
	}
}

// A job whose lease another holder took stops, and says so.
func TestUnderLeaseLost(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	p := open(t, t.TempDir(), c)
	err := meta.UnderLease(ctx, p.meta, "job", 300*time.Millisecond, c.Now, func(ctx context.Context, holder string) error {
		if err := meta.UnderLease(ctx, p.meta, "job", time.Minute, c.Now, func(context.Context, string) error { return nil }); !errors.Is(err, meta.ErrLeaseHeld) {
			t.Errorf("a second holder while the first holds: %v", err)
		}
		c.Advance(time.Second) // the first holder stalls past its lease: another takes it
		now := c.Now()
		if err := p.meta.AcquireLease(ctx, "job", now, meta.Lease{Holder: "other", Until: now.Add(time.Hour)}); err != nil {
			t.Errorf("taking the lapsed lease: %v", err)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("a job whose lease was taken: %v", err)
	}
}
