package metatest

import (
	"context"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// testWebhooks: hooks belong to their repository (a repository made again
// under the name has none); deliveries are recorded, updated and listed
// newest first, and go with their hook.
func testWebhooks(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if _, err := s.CreateHook(ctx, meta.Hook{Repository: "ann/none", URL: "http://x"}); !errdefs.IsNotFound(err) {
		t.Fatalf("hook on a missing repository: %v", err)
	}
	for _, r := range []string{"ann/app", "ann/other"} {
		if err := s.CreateRepository(ctx, meta.Repository{Name: r, Visibility: meta.Public, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	h := meta.Hook{Repository: "ann/app", URL: "https://ci.example/hook", Secret: "s3cret", Events: []string{"push", "tag_delete"},
		CreatedBy: "ann", CreatedAt: t0}
	id, err := s.CreateHook(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Hook(ctx, id)
	h.ID = id
	if err != nil || got.ID != id || got.Repository != h.Repository || got.URL != h.URL || got.Secret != h.Secret ||
		len(got.Events) != 2 || got.Events[1] != "tag_delete" || got.CreatedBy != "ann" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("hook read back as %+v, %v", got, err)
	}
	if list, err := s.Hooks(ctx, "ann/app"); err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("hooks: %+v, %v", list, err)
	}
	if list, err := s.Hooks(ctx, "ann/other"); err != nil || len(list) != 0 {
		t.Fatalf("another repository's hooks: %+v, %v", list, err)
	}
	if err := s.DeleteHook(ctx, "ann/other", id); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting a hook through another repository: %v", err)
	}

	var ids []int64
	for i := range 3 {
		d := meta.Delivery{Hook: id, Event: "push", Payload: []byte(`{"n":` + string(rune('0'+i)) + `}`), State: meta.DeliveryPending,
			CreatedAt: t0, UpdatedAt: t0}
		did, err := s.AddDelivery(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, did)
	}
	d, err := s.Delivery(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	d.State, d.Attempts, d.Code, d.Duration, d.Error, d.UpdatedAt = meta.DeliveryOK, 3, 204, 1500*time.Millisecond, "", t0.Add(time.Minute)
	if err := s.UpdateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	back, err := s.Delivery(ctx, ids[0])
	if err != nil || back.State != meta.DeliveryOK || back.Attempts != 3 || back.Code != 204 || back.Duration != 1500*time.Millisecond ||
		!back.UpdatedAt.Equal(t0.Add(time.Minute)) || !back.CreatedAt.Equal(t0) || string(back.Payload) != `{"n":0}` || back.Hook != id {
		t.Fatalf("delivery read back as %+v, %v", back, err)
	}
	// Pending ones not updated since a time are stale, oldest first.
	stale, err := s.StaleDeliveries(ctx, t0.Add(time.Second), 10)
	if err != nil || len(stale) != 2 || stale[0].ID != ids[1] || stale[1].ID != ids[2] {
		t.Fatalf("stale deliveries: %+v, %v", stale, err)
	}
	if stale, err := s.StaleDeliveries(ctx, t0, 10); err != nil || len(stale) != 0 {
		t.Fatalf("deliveries stale before they were made: %+v, %v", stale, err)
	}
	if stale, err := s.StaleDeliveries(ctx, t0.Add(time.Hour), 1); err != nil || len(stale) != 1 || stale[0].ID != ids[1] {
		t.Fatalf("the oldest stale delivery: %+v, %v", stale, err)
	}
	latest, err := s.Deliveries(ctx, id, 2)
	if err != nil || len(latest) != 2 || latest[0].ID != ids[2] || latest[1].ID != ids[1] {
		t.Fatalf("latest deliveries: %+v, %v", latest, err)
	}

	// Only the latest DeliveriesKept are kept.
	for range meta.DeliveriesKept {
		if _, err := s.AddDelivery(ctx, meta.Delivery{Hook: id, Event: "push", Payload: []byte("{}"), State: meta.DeliveryOK,
			CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := s.Deliveries(ctx, id, 2*meta.DeliveriesKept); err != nil || len(all) != meta.DeliveriesKept || all[len(all)-1].ID <= ids[2] {
		t.Fatalf("after %d more deliveries: %d kept, %v", meta.DeliveriesKept, len(all), err)
	}

	// A repository deleted and made again has no hooks.
	if err := s.DeleteRepository(ctx, "ann/app"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepository(ctx, meta.Repository{Name: "ann/app", Visibility: meta.Public, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Hooks(ctx, "ann/app"); err != nil || len(list) != 0 {
		t.Fatalf("a new repository under the name inherits hooks: %+v, %v", list, err)
	}
	if err := s.DeleteHook(ctx, "ann/app", id); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting the old repository's hook through the new one: %v", err)
	}

	// Deleting a hook takes its deliveries.
	id2, err := s.CreateHook(ctx, meta.Hook{Repository: "ann/other", URL: "http://x", Secret: "x", Events: []string{"push"}, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	did, _ := s.AddDelivery(ctx, meta.Delivery{Hook: id2, Event: "push", Payload: []byte("{}"), State: meta.DeliveryPending, CreatedAt: t0, UpdatedAt: t0})
	if err := s.DeleteHook(ctx, "ann/other", id2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hook(ctx, id2); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted hook: %v", err)
	}
	if _, err := s.Delivery(ctx, did); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted hook's delivery: %v", err)
	}
}
