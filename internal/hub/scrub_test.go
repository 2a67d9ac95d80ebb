package hub_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/testutil"
)

// The online scrub, one node at a time: it quarantines a damaged blob (a
// pull gets BLOB_UNKNOWN, not wrong bytes), records when its pass ended
// and what it found, and a push of the content heals it.
func TestOnlineScrub(t *testing.T) {
	ctx := context.Background()
	h := testutil.StartHub(t, hub.Config{})
	good, bad := bytes.Repeat([]byte("good "), 2000), bytes.Repeat([]byte("bad "), 2000)
	for _, b := range [][]byte{good, bad} {
		if r := do(t, "POST", h.URL()+"/v2/lib/app/blobs/uploads/?digest="+digest.FromBytes(b).String(), nil, b); r.StatusCode != 201 {
			t.Fatalf("push: %d", r.StatusCode)
		}
	}
	d := digest.FromBytes(bad)
	os.WriteFile(filepath.Join(h.Dir, "content", "blobs", "sha256", d.Encoded()[:2], d.Encoded()), []byte("bit rot"), 0o644)

	// Another node is scrubbing: this one waits its turn.
	now := time.Now()
	if err := h.Deps.Meta.AcquireLease(ctx, "scrub", now, meta.Lease{Holder: "other node", Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := hub.ScrubPass(ctx, 0, h.Deps); !errdefs.IsConflict(err) {
		t.Fatalf("scrubbing while another node does: %v", err)
	}
	h.Deps.Meta.ReleaseLease(ctx, "scrub", "other node")
	if err := hub.ScrubPass(ctx, 0, h.Deps); err != nil {
		t.Fatal(err)
	}
	if got := do(t, "GET", h.URL()+"/v2/lib/app/blobs/"+d.String(), nil, nil); got.StatusCode != 404 {
		t.Fatalf("a quarantined blob: %d", got.StatusCode)
	}
	if got := servedDigest(t, h.URL()+"/v2/lib/app/blobs/"+digest.FromBytes(good).String()); got != digest.FromBytes(good) {
		t.Fatalf("the good blob: %q", got)
	}
	for key, want := range map[string]string{"scrub.cursor": "", "scrub.damaged": "1"} {
		if got, _ := h.Deps.Meta.Setting(ctx, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if fin, _ := h.Deps.Meta.Setting(ctx, "scrub.finished"); fin == "" {
		t.Error("the pass's end is not recorded")
	}
	if r := do(t, "POST", h.URL()+"/v2/elsewhere/x/blobs/uploads/?digest="+d.String(), nil, bad); r.StatusCode != 201 {
		t.Fatalf("pushing the content again: %d", r.StatusCode)
	}
	if got := servedDigest(t, h.URL()+"/v2/lib/app/blobs/"+d.String()); got != d {
		t.Fatalf("after the push, the blob is %q", got)
	}
}
