package hub_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// TestBuildCacheIndex: BuildKit's registry cache in its default form, an
// index whose entries are blobs (its cache config and layers), is
// accepted as the distribution registry accepts it; the collector keeps
// its blobs while the index is kept and takes them once it is deleted;
// its web page shows a build cache, not images, as does that of the
// cache's image-manifest=true form. On SQLite and PostgreSQL.
func TestBuildCacheIndex(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testBuildCacheIndex(t, hub.Config{GCGrace: time.Millisecond}) })
	t.Run("postgres", func(t *testing.T) {
		testBuildCacheIndex(t, hub.Config{GCGrace: time.Millisecond, Database: testutil.PostgresDB(t)})
	})
}

func testBuildCacheIndex(t *testing.T, cfg hub.Config) {
	ctx := context.Background()
	h := testutil.StartAccountsHub(t, cfg, [2]string{"alice", "alice-pass-1"})
	tok, _ := getToken(t, h, "alice", "alice-pass-1", "repository:alice/app:pull,push,delete")
	auth := map[string]string{"Authorization": "Bearer " + tok.Token}
	upload := func(b []byte) digest.Digest {
		t.Helper()
		d := digest.FromBytes(b)
		if r := do(t, "POST", h.URL()+"/v2/alice/app/blobs/uploads/?digest="+d.String(), auth, b); r.StatusCode != 201 {
			t.Fatalf("upload %s: %d", d, r.StatusCode)
		}
		return d
	}
	layer := make([]byte, 4096)
	rand.Read(layer)
	config := []byte(`{"layers":[],"records":[]}`)
	layerDigest, configDigest, stray := upload(layer), upload(config), upload([]byte("no index names me"))
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d,"annotations":{"buildkit/createdat":"2026-12-02T00:00:00Z"}},
		{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":%q,"size":%d}]}`, layerDigest, len(layer), configDigest, len(config)))
	r := do(t, "PUT", h.URL()+"/v2/alice/app/manifests/cache", map[string]string{"Authorization": auth["Authorization"],
		"Content-Type": "application/vnd.oci.image.index.v1+json"}, idx)
	if r.StatusCode != 201 {
		t.Fatalf("pushing the cache index: %d", r.StatusCode)
	}
	blobStatus := func(d digest.Digest) int {
		t.Helper()
		return do(t, "HEAD", h.URL()+"/v2/alice/app/blobs/"+d.String(), auth, nil).StatusCode
	}
	collect := func() {
		t.Helper()
		time.Sleep(5 * time.Millisecond) // past the grace
		if _, err := h.Deps.Blobs.CollectGarbage(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	collect()
	if blobStatus(layerDigest) != 200 || blobStatus(configDigest) != 200 {
		t.Fatal("the collector took blobs of a kept cache index")
	}
	if blobStatus(stray) != 404 {
		t.Fatal("the collector did not run: a blob no manifest names stayed")
	}

	w := newWebClient(t, h)
	w.signIn("alice", "alice-pass-1")
	page := w.get("/r/alice/app/-/tags/cache")
	if page.Status != 200 || !strings.Contains(page.Body, "build cache") || !strings.Contains(page.Body, "cache config") ||
		!strings.Contains(page.Body, "--cache-from type=registry,ref=") || strings.Contains(page.Body, "/r/alice/app/-/manifests/") ||
		strings.Contains(page.Body, "<h2>Images</h2>") || strings.Contains(page.Body, "docker pull") {
		t.Fatalf("the cache's page: %d\n%s", page.Status, page.Body)
	}
	if repo := w.get("/r/alice/app"); repo.Status != 200 || !strings.Contains(repo.Body, `<span class="badge">build cache</span>`) {
		t.Fatalf("the repository page does not show the tag as a build cache: %d\n%s", repo.Status, repo.Body)
	}

	// The same cache as BuildKit's image-manifest=true form: a build cache too.
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
		"config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":%q,"size":%d},
		"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`, configDigest, len(config), layerDigest, len(layer)))
	if r := do(t, "PUT", h.URL()+"/v2/alice/app/manifests/cache-manifest", map[string]string{"Authorization": auth["Authorization"],
		"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, man); r.StatusCode != 201 {
		t.Fatalf("pushing the cache manifest: %d", r.StatusCode)
	}
	page = w.get("/r/alice/app/-/tags/cache-manifest")
	if page.Status != 200 || !strings.Contains(page.Body, `<span class="badge">build cache</span>`) || !strings.Contains(page.Body, "Build cache layers") ||
		strings.Contains(page.Body, "docker pull") || strings.Contains(page.Body, "an artifact?") {
		t.Fatalf("the cache manifest's page: %d\n%s", page.Status, page.Body)
	}
	if r := do(t, "DELETE", h.URL()+"/v2/alice/app/manifests/"+digest.FromBytes(man).String(), auth, nil); r.StatusCode != 202 {
		t.Fatalf("deleting the cache manifest: %d", r.StatusCode)
	}

	// An index of blobs that is no build cache says so.
	plain := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/octet-stream","digest":%q,"size":%d}]}`, layerDigest, len(layer)))
	if r := do(t, "PUT", h.URL()+"/v2/alice/app/manifests/blobs", map[string]string{"Authorization": auth["Authorization"],
		"Content-Type": "application/vnd.oci.image.index.v1+json"}, plain); r.StatusCode != 201 {
		t.Fatalf("pushing an index of blobs: %d", r.StatusCode)
	}
	page = w.get("/r/alice/app/-/tags/blobs")
	if page.Status != 200 || !strings.Contains(page.Body, `<span class="badge">index of blobs</span>`) || !strings.Contains(page.Body, "<h2>Blobs</h2>") ||
		!strings.Contains(page.Body, "application/octet-stream</td>") || strings.Contains(page.Body, "build cache") {
		t.Fatalf("the page of an index of blobs: %d\n%s", page.Status, page.Body)
	}
	if r := do(t, "DELETE", h.URL()+"/v2/alice/app/manifests/"+digest.FromBytes(plain).String(), auth, nil); r.StatusCode != 202 {
		t.Fatalf("deleting the index of blobs: %d", r.StatusCode)
	}

	// A blob an index names is not unlinked under it.
	if r := do(t, "DELETE", h.URL()+"/v2/alice/app/blobs/"+layerDigest.String(), auth, nil); r.StatusCode != 409 {
		t.Fatalf("deleting a blob the cache index names: %d, want 409", r.StatusCode)
	}
	if r := do(t, "DELETE", h.URL()+"/v2/alice/app/manifests/"+digest.FromBytes(idx).String(), auth, nil); r.StatusCode != 202 {
		t.Fatalf("deleting the cache index: %d", r.StatusCode)
	}
	collect()
	if blobStatus(layerDigest) != 404 || blobStatus(configDigest) != 404 {
		t.Fatal("the collector kept the blobs of a deleted cache index")
	}
}
