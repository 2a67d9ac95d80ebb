package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
)

func store(t *testing.T) meta.Store {
	s, err := sqlite.Open(context.Background(), t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateRepository(context.Background(), meta.Repository{Name: "ann/app", Visibility: meta.Public, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return s
}

// pushed is the audit entry of a push to ann/app.
var pushed = meta.AuditEvent{Action: meta.AuditPush, Actor: "ann", Target: "ann/app:v1", Time: time.Now(),
	Details: map[string]string{"repository": "ann/app", "digest": "sha256:aa", "tags": "v1"}}

// A receiver that never takes a delivery gets Attempts tries, then the
// delivery is failed, with the last answer recorded.
func TestDeliveryGivesUp(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	s := store(t)
	d := New(s, Options{AllowPrivate: true, Attempts: 3, Backoff: time.Millisecond})
	id, _ := s.CreateHook(t.Context(), meta.Hook{Repository: "ann/app", URL: srv.URL, Secret: "x", Events: []string{Push}, CreatedAt: time.Now()})
	d.Notify(t.Context(), pushed)
	d.Wait()
	dels, _ := s.Deliveries(t.Context(), id, 10)
	if len(dels) != 1 || dels[0].State != meta.DeliveryFailed || dels[0].Attempts != 3 || dels[0].Code != 500 ||
		dels[0].Error != "answered 500" || tries.Load() != 3 {
		t.Fatalf("deliveries %+v after %d tries", dels, tries.Load())
	}
}

// Without AllowPrivate, a hook that reaches a loopback address anyway (a
// name that resolves there now, a hook made before the rule) is refused
// at the connection, once, and the receiver hears nothing.
func TestDeliveryRefusesPrivate(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { tries.Add(1) }))
	defer srv.Close()
	s := store(t)
	d := New(s, Options{Attempts: 3, Backoff: time.Millisecond})
	if err := d.CheckURL(t.Context(), srv.URL); err == nil {
		t.Fatalf("CheckURL(%s) passes", srv.URL)
	}
	for _, u := range []string{"https://93.184.215.14/hook", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8080/"} {
		if err := d.CheckURL(t.Context(), u); err != nil {
			t.Errorf("CheckURL(%s): %v", u, err)
		}
	}
	id, _ := s.CreateHook(t.Context(), meta.Hook{Repository: "ann/app", URL: srv.URL, Secret: "x", Events: []string{Push}, CreatedAt: time.Now()})
	d.Notify(t.Context(), pushed)
	d.Wait()
	dels, _ := s.Deliveries(t.Context(), id, 10)
	if len(dels) != 1 || dels[0].State != meta.DeliveryFailed || dels[0].Attempts != 1 || !strings.Contains(dels[0].Error, "not a public address") ||
		tries.Load() != 0 {
		t.Fatalf("deliveries %+v, %d reached the receiver", dels, tries.Load())
	}
}

// Only what hooks asked for is delivered, and nothing for other repositories or actions.
func TestNotifyFilters(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { tries.Add(1) }))
	defer srv.Close()
	s := store(t)
	d := New(s, Options{AllowPrivate: true})
	s.CreateHook(t.Context(), meta.Hook{Repository: "ann/app", URL: srv.URL, Secret: "x", Events: []string{TagDelete}, CreatedAt: time.Now()})
	d.Notify(t.Context(), pushed)
	d.Notify(t.Context(), meta.AuditEvent{Action: meta.AuditSignIn, Details: map[string]string{"repository": "ann/app"}})
	other := pushed
	other.Details = map[string]string{"repository": "ann/other"}
	d.Notify(t.Context(), other)
	d.Notify(t.Context(), meta.AuditEvent{Action: meta.AuditTagDelete, Details: map[string]string{"repository": "ann/app", "tag": "v1"}})
	d.Wait()
	if n := tries.Load(); n != 1 {
		t.Fatalf("%d deliveries, want the tag delete's", n)
	}
}

// Close ends a delivery waiting for its next try: it stays pending (as
// after a crash), and Close does not wait out the pause.
func TestCloseLeavesPending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer srv.Close()
	s := store(t)
	d := New(s, Options{AllowPrivate: true, Attempts: 3, Backoff: time.Hour})
	id, _ := s.CreateHook(t.Context(), meta.Hook{Repository: "ann/app", URL: srv.URL, Secret: "x", Events: []string{Push}, CreatedAt: time.Now()})
	d.Notify(t.Context(), pushed)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		dels, _ := s.Deliveries(t.Context(), id, 1)
		if len(dels) == 1 && dels[0].Attempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first try: %+v", dels)
		}
	}
	d.Close()
	dels, _ := s.Deliveries(t.Context(), id, 1)
	if dels[0].State != meta.DeliveryPending || dels[0].Attempts != 1 || dels[0].Code != 502 {
		t.Fatalf("after Close: %+v", dels[0])
	}
}

// Resume sends on what a node left pending (stopped or crashed), with the
// tries left; one with none left is failed; fresh ones are not touched.
func TestResume(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		if r.Header.Get(SignatureHeader) != Sign("x", []byte(`{"event":"push"}`)) {
			t.Errorf("signature %q", r.Header.Get(SignatureHeader))
		}
	}))
	defer srv.Close()
	s := store(t)
	d := New(s, Options{AllowPrivate: true, Attempts: 3})
	hook, _ := s.CreateHook(t.Context(), meta.Hook{Repository: "ann/app", URL: srv.URL, Secret: "x", Events: []string{Push}, CreatedAt: time.Now()})
	long := time.Now().Add(-time.Hour)
	add := func(attempts int, at time.Time) int64 {
		id, err := s.AddDelivery(t.Context(), meta.Delivery{Hook: hook, Event: Push, Payload: []byte(`{"event":"push"}`),
			State: meta.DeliveryPending, Attempts: attempts, CreatedAt: at, UpdatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	left, spent, fresh := add(1, long), add(3, long), add(0, time.Now())
	if n, err := d.Resume(t.Context(), 10); err != nil || n != 2 {
		t.Fatalf("resumed %d: %v", n, err)
	}
	d.Wait()
	for id, want := range map[int64]struct {
		state    meta.DeliveryState
		attempts int
	}{left: {meta.DeliveryOK, 2}, spent: {meta.DeliveryFailed, 3}, fresh: {meta.DeliveryPending, 0}} {
		got, _ := s.Delivery(t.Context(), id)
		if got.State != want.state || got.Attempts != want.attempts {
			t.Errorf("delivery %d: %s after %d tries, want %s after %d", id, got.State, got.Attempts, want.state, want.attempts)
		}
	}
	if n := tries.Load(); n != 1 {
		t.Errorf("the receiver got %d, want 1", n)
	}
	if n, _ := d.Resume(t.Context(), 10); n != 0 {
		t.Errorf("resumed %d more", n)
	}
}
