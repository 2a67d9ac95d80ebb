package metatest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Signing keys are added, listed by when they sign, and deleted; an id is
// stored once, and keys added at once all stay.
func testSigningKeys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("a new store's keys: %v, %v", keys, err)
	}
	key := func(id string, from time.Duration) meta.SigningKey {
		return meta.SigningKey{ID: id, Private: []byte("private " + id), CreatedAt: t0, SignFrom: t0.Add(from)}
	}
	for _, k := range []meta.SigningKey{key("b", time.Hour), key("c", 0), key("a", time.Hour)} {
		if err := s.AddSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddSigningKey(ctx, key("a", 2*time.Hour)); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("adding an id again: %v", err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	for i, want := range []meta.SigningKey{key("c", 0), key("a", time.Hour), key("b", time.Hour)} {
		got := keys[i]
		if got.ID != want.ID || !bytes.Equal(got.Private, want.Private) || !got.CreatedAt.Equal(want.CreatedAt) || !got.SignFrom.Equal(want.SignFrom) {
			t.Fatalf("key %d: %+v, want %+v", i, got, want)
		}
	}
	if err := s.DeleteSigningKey(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSigningKey(ctx, "a"); err != nil {
		t.Fatalf("deleting a key twice: %v", err)
	}
	if keys, _ := s.SigningKeys(ctx); len(keys) != 2 || keys[0].ID != "c" || keys[1].ID != "b" {
		t.Fatalf("after deleting a: %v", keys)
	}
	added := race(10, func(i int) bool { return s.AddSigningKey(ctx, key(fmt.Sprint("r", i), 0)) == nil })
	if keys, _ := s.SigningKeys(ctx); added != 10 || len(keys) != 12 {
		t.Fatalf("10 keys added at once: %d added, %d stored", added, len(keys))
	}
}

// A secret is set once, by whoever asks first, and then the same for everyone.
func testSecrets(t *testing.T, s meta.Store) {
	ctx := context.Background()
	got, err := s.Secret(ctx, "csrf", []byte("first"))
	if err != nil || string(got) != "first" {
		t.Fatalf("the first ask: %q, %v", got, err)
	}
	if got, _ := s.Secret(ctx, "csrf", []byte("second")); string(got) != "first" {
		t.Fatalf("a second ask changed it: %q", got)
	}
	if got, _ := s.Secret(ctx, "other", []byte("o")); string(got) != "o" {
		t.Fatalf("another secret: %q", got)
	}
	seen := make([]string, 10)
	race(10, func(i int) bool {
		v, err := s.Secret(ctx, "raced", []byte(fmt.Sprint("v", i)))
		seen[i] = string(v)
		return err == nil
	})
	for _, v := range seen {
		if v != seen[0] || v == "" {
			t.Fatalf("asked at once, they got %q", seen)
		}
	}
}
