package s3_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage/s3"
	"github.com/strata-dev/strata/internal/hub/storage/storagetest"
)

// What one node remembers of a blob does not outlive another node's
// collection of it: after b deleted the blob a had read, a's Stat says it
// is gone; after b stored it again (in a new object), a's Stat, Open and
// redirect URL all find the new object.
func TestNodesSeeEachOthersCollections(t *testing.T) {
	ctx := context.Background()
	a := newDriver(t, "hub")
	b := sameBucket(t, a)
	content := []byte("a blob both nodes know")
	dg := storagetest.Put(t, a, "up-first", content)
	readVia := func(d *s3.Driver) {
		t.Helper()
		rc, err := d.Open(ctx, dg)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got, err := io.ReadAll(rc); err != nil || string(got) != string(content) {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	readVia(a) // a remembers where it is
	if _, err := a.URL(ctx, dg, time.Minute); err != nil {
		t.Fatal(err)
	}

	if err := b.Delete(ctx, dg); err != nil { // b collects it
		t.Fatal(err)
	}
	if n, err := a.Stat(ctx, dg); !errdefs.IsNotFound(err) {
		t.Fatalf("a's Stat after b deleted the blob: %d, %v; want not found", n, err)
	}
	if _, err := a.Open(ctx, dg); !errdefs.IsNotFound(err) {
		t.Fatalf("a's Open after b deleted the blob: %v; want not found", err)
	}

	storagetest.Put(t, b, "up-again", content)
	readVia(a)
	if n, err := a.Stat(ctx, dg); err != nil || n != int64(len(content)) {
		t.Fatalf("a's Stat after b stored the blob again: %d, %v", n, err)
	}
	// Once more with a remembering the first object when b collects and stores again.
	readVia(a)
	if err := b.Delete(ctx, dg); err != nil {
		t.Fatal(err)
	}
	storagetest.Put(t, b, "up-third", content)
	u, err := a.URL(ctx, dg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != string(content) {
		t.Fatalf("a's redirect URL after b collected and stored the blob again: %d %q", resp.StatusCode, got)
	}
	readVia(a)
}
