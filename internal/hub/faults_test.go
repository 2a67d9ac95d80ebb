package hub_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// When the object store or the database goes away mid-push, the hub
// answers 503 (try again), never a wrong answer (a 404 for what exists, a
// blob it cannot serve); an upload resumes where it was once they are
// back, and pushes succeed again.
func TestEnginesGoingAway(t *testing.T) {
	cfg, pg, weed := testutil.OnPrivateEngines(t, hub.Config{})
	h := testutil.StartHub(t, cfg)
	beforeImg := randomImage(t, 1)
	push(t, h.Addr+"/faults/before:1", beforeImg)
	before := seed(t, beforeImg)
	chunk1, chunk2 := bytes.Repeat([]byte("a"), 6<<20), bytes.Repeat([]byte("b"), 1000)
	whole := digest.FromBytes(append(append([]byte{}, chunk1...), chunk2...))

	// The object store goes away after the first chunk of an upload.
	loc := startUpload(t, h, "faults/chunked")
	loc = patch(t, h, loc, 0, chunk1, http.StatusAccepted)
	weed.Stop()
	notReady(t, h, "object store")
	patch(t, h, loc, int64(len(chunk1)), chunk2, http.StatusServiceUnavailable)
	// An upload's record is in the database: it starts, but takes no more
	// bytes than its record keeps itself (a small blob's), and those it
	// cannot commit.
	patch(t, h, startUpload(t, h, "faults/other"), 0, chunk1, http.StatusServiceUnavailable)
	small := patch(t, h, startUpload(t, h, "faults/small"), 0, chunk2, http.StatusAccepted)
	if r := call(t, "PUT", h.URL()+small+"?digest="+digest.FromBytes(chunk2).String(), "", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("finishing a small upload with the store down: %d %s", r.Status, r.Body)
	}
	if r := call(t, "GET", h.URL()+"/v2/faults/before/blobs/"+before.Layer.String(), "", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("a stored blob with the store down: %d %s", r.Status, r.Body)
	}
	if r := call(t, "GET", h.URL()+"/v2/faults/before/manifests/1", "", nil); r.Status != http.StatusOK {
		t.Errorf("a manifest (in the database) with the store down: %d", r.Status)
	}
	if err := pushErr(h.Addr+"/faults/during:1", randomImage(t, 1)); err == nil {
		t.Error("a push with the store down succeeded")
	}
	if err := weed.Start(); err != nil {
		t.Fatal(err)
	}
	if r := call(t, "GET", h.URL()+loc, "", nil); r.Status != http.StatusNoContent || r.Header.Get("Range") != fmt.Sprintf("0-%d", len(chunk1)-1) {
		t.Fatalf("upload status after the store came back: %d %q", r.Status, r.Header.Get("Range"))
	}
	loc = patch(t, h, loc, int64(len(chunk1)), chunk2, http.StatusAccepted)
	if r := call(t, "PUT", h.URL()+loc+"?digest="+whole.String(), "", nil); r.Status != http.StatusCreated {
		t.Fatalf("finishing the upload: %d %s", r.Status, r.Body)
	}
	if r := call(t, "GET", h.URL()+"/v2/faults/chunked/blobs/"+whole.String(), "", nil); r.Status != 200 || digest.FromString(r.Body) != whole {
		t.Fatalf("the resumed blob reads back wrong: %d, %d bytes", r.Status, len(r.Body))
	}
	push(t, h.Addr+"/faults/after-store:1", randomImage(t, 2))

	// The database goes away with an upload's bytes all sent.
	loc = startUpload(t, h, "faults/db")
	loc = patch(t, h, loc, 0, chunk2, http.StatusAccepted)
	pg.Stop()
	notReady(t, h, "database")
	if r := call(t, "PUT", h.URL()+loc+"?digest="+digest.FromBytes(chunk2).String(), "", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("finishing an upload with the database down: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/v2/faults/before/manifests/1", "/v2/faults/before/blobs/" + before.Layer.String(), "/v2/faults/before/tags/list"} {
		if r := call(t, "GET", h.URL()+path, "", nil); r.Status != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the database down: %d %s", path, r.Status, r.Body)
		}
	}
	if err := pushErr(h.Addr+"/faults/during-db:1", randomImage(t, 1)); err == nil {
		t.Error("a push with the database down succeeded")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return status(h.URL()+"/readyz") == 200 }) {
		t.Fatal("/readyz: not ready again once the engines are back")
	}
	img := randomImage(t, 2)
	d := push(t, h.Addr+"/faults/after-db:1", img)
	ref, _ := name.ParseReference(h.Addr + "/faults/after-db:1")
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != d {
		t.Fatalf("pulled %s, pushed %s", gd, d)
	}
	if _, err := got.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bytes.NewBuffer(nil).ReadFrom(rc); err != nil {
			t.Fatalf("a layer pushed after the outage: %v", err)
		}
		rc.Close()
	}
}

// notReady checks that h's /readyz says it is not ready for lack of what.
func notReady(t *testing.T, h *testutil.Hub, what string) {
	t.Helper()
	if !testutil.WaitFor(10*time.Second, func() bool { return status(h.URL()+"/readyz") == http.StatusServiceUnavailable }) {
		t.Fatalf("/readyz: still ready without the %s", what)
	}
	if r := call(t, "GET", h.URL()+"/readyz", "", nil); !strings.Contains(r.Body, what+":") {
		t.Errorf("/readyz: %q does not name the %s", r.Body, what)
	}
}

// pushErr pushes img as ref with go-containerregistry and returns its error.
func pushErr(ref string, img v1.Image) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}

// startUpload starts an upload session in repo and returns its location.
func startUpload(t *testing.T, h *testutil.Hub, repo string) string {
	t.Helper()
	r := call(t, "POST", h.URL()+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("start an upload: %d %s", r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

// patch sends a chunk that starts at start, wants status, and returns the
// upload's location after it.
func patch(t *testing.T, h *testutil.Hub, loc string, start int64, chunk []byte, status int) string {
	t.Helper()
	r := call(t, "PATCH", h.URL()+loc, "", chunk, "Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("%d-%d", start, start+int64(len(chunk))-1))
	if r.Status != status {
		t.Fatalf("PATCH %d bytes at %d: %d %s; want %d", len(chunk), start, r.Status, r.Body, status)
	}
	if l := r.Header.Get("Location"); l != "" {
		return l
	}
	return loc
}
