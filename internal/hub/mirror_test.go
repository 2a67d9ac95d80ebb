package hub_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/hub/mirror/upstream"
	"github.com/strata-dev/strata/internal/testutil"
)

// fakeUpstream is a registry for a mirror to pull through: a strata hub on
// loopback behind a proxy that counts the requests for content, and can
// turn hostile (blobs and manifests that are not what their digests say).
type fakeUpstream struct {
	hub     *testutil.Hub
	srv     *httptest.Server
	hostile atomic.Bool
	gate    chan struct{} // set: blobs stop half way until it closes

	mu     sync.Mutex
	counts map[string]int // "GET blob", "HEAD manifest", ...
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{hub: testutil.StartHub(t, hub.Config{}), counts: map[string]int{}}
	target, _ := url.Parse(u.hub.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := ""
		switch {
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = "blob"
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifest"
		}
		if kind != "" {
			u.mu.Lock()
			u.counts[r.Method+" "+kind]++
			u.mu.Unlock()
		}
		if u.hostile.Load() && r.Method == http.MethodGet && kind != "" {
			if kind == "blob" {
				w.Write([]byte("not the blob you asked for"))
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`))
			return
		}
		if u.gate != nil && r.Method == http.MethodGet && kind == "blob" {
			proxy.ServeHTTP(&gated{ResponseWriter: w, gate: u.gate}, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// count is how many requests of a kind ("GET blob") reached the upstream.
func (u *fakeUpstream) count(kind string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[kind]
}

// total is how many requests for content reached the upstream.
func (u *fakeUpstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.counts {
		n += c
	}
	return n
}

// push puts img on the upstream as name:tag.
func (u *fakeUpstream) push(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	return push(t, u.hub.Addr+"/"+ref, img)
}

// mirrorHub is an open hub mirroring up: at the root and under docker.io
// (one upstream), and under quay.io (the same registry again).
func mirrorHub(t *testing.T, up *fakeUpstream, ttl time.Duration) *testutil.Hub {
	t.Helper()
	ups := []mirror.Upstream{
		{URL: up.srv.URL, Prefix: "docker.io", Root: true, TagTTL: ttl},
		{URL: up.srv.URL, Prefix: "quay.io", TagTTL: ttl},
	}
	return testutil.StartHub(t, hub.Config{Mirrors: ups, Upstreams: upstream.New(ups)})
}

// blobsOf is how many blobs an image has: its config and layers.
func blobsOf(t *testing.T, img v1.Image) int {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return len(layers) + 1
}

func TestMirrorPullThrough(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 3)
	up.push(t, "library/busybox:1", img)
	h := mirrorHub(t, up, 0)

	// Cold: at the root, as docker's registry-mirrors asks.
	if err := testutil.SameImage(h.Addr+"/library/busybox:1", img); err != nil {
		t.Fatalf("pull through the mirror: %v", err)
	}
	if got, want := up.count("GET blob"), blobsOf(t, img); got != want {
		t.Errorf("a cold pull fetched %d blobs from the upstream, want %d", got, want)
	}
	if got := up.count("GET manifest"); got != 1 {
		t.Errorf("a cold pull fetched the manifest %d times, want 1", got)
	}
	// Warm, within the TTL, at the root and under the prefix: the same
	// content, and no request to the upstream.
	before := up.total()
	for _, ref := range []string{h.Addr + "/library/busybox:1", h.Addr + "/docker.io/library/busybox:1"} {
		if err := testutil.SameImage(ref, img); err != nil {
			t.Fatalf("warm pull of %s: %v", ref, err)
		}
	}
	if got := up.total() - before; got != 0 {
		t.Errorf("warm pulls within the TTL made %d upstream requests, want 0", got)
	}
	// Stored once, in the mirror's repository, like pushed content.
	d, _ := img.Digest()
	if _, err := h.Deps.Meta.Manifest(context.Background(), "docker.io/library/busybox", d.String()); err != nil {
		t.Errorf("the manifest is not stored in docker.io/library/busybox: %v", err)
	}
	// crane pulls through the other prefix (a second fill: another repository).
	crane := testutil.Tool(t, "crane")
	if got := strings.TrimSpace(testutil.Run(t, nil, crane, "digest", h.Addr+"/quay.io/library/busybox:1")); got != d.String() {
		t.Errorf("crane digest through quay.io = %s, want %s", got, d)
	}
	testutil.Run(t, nil, crane, "pull", h.Addr+"/quay.io/library/busybox:1", t.TempDir()+"/img.tar")

	// A name the upstream lacks is unknown; a local repository at the
	// root is the hub's own, and pushes to mirrored names are refused.
	if _, err := testutil.RunErr(nil, crane, "digest", h.Addr+"/library/nothing:1"); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Errorf("a name the upstream lacks: %v, want MANIFEST_UNKNOWN", err)
	}
	local := randomImage(t, 1)
	push(t, h.Addr+"/alice/app:1", local)
	if err := testutil.SameImage(h.Addr+"/alice/app:1", local); err != nil {
		t.Errorf("a local repository at the root: %v", err)
	}
	// library/ at the root is the upstream's alone: no local repository
	// there can stand in for an official image.
	for _, ref := range []string{"/docker.io/library/busybox:2", "/library/busybox:2", "/library/mine:1"} {
		r, _ := name.ParseReference(h.Addr + ref)
		if err := remote.Write(r, local); err == nil || !strings.Contains(err.Error(), "read-only mirror") {
			t.Errorf("push to mirrored name %s: %v, want refused as a read-only mirror", ref, err)
		}
	}
	if err := testutil.SameImage(h.Addr+"/library/busybox:1", img); err != nil {
		t.Errorf("library/busybox after pushes to it were refused: %v", err)
	}
}

// Many clients pulling one image for the first time at once: each blob
// and the manifest come from the upstream once.
func TestMirrorConcurrentFirstPulls(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 4)
	up.push(t, "library/app:1", img)
	h := mirrorHub(t, up, 0)
	r, _ := name.ParseReference(h.Addr + "/library/app:1")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- testutil.PullAll(r)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := up.count("GET blob"), blobsOf(t, img); got != want {
		t.Errorf("8 concurrent first pulls fetched %d blobs from the upstream, want %d (one each)", got, want)
	}
	if got := up.count("GET manifest"); got != 1 {
		t.Errorf("8 concurrent first pulls fetched the manifest %d times, want 1", got)
	}
	if got, want := h.Deps.Mirror.Fetches("blob"), int64(blobsOf(t, img)); got != want {
		t.Errorf("the mirror counts %d blob fetches, want %d", got, want)
	}
}

// Past its TTL a tag is checked with a HEAD: unchanged, nothing more is
// fetched; moved, the new manifest is; the upstream down, the cached tag
// and its blobs are served still.
func TestMirrorRevalidateAndStale(t *testing.T) {
	up := startUpstream(t)
	first := randomImage(t, 2)
	up.push(t, "library/app:1", first)
	h := mirrorHub(t, up, 1) // 1ns: every pull revalidates
	ref := h.Addr + "/library/app:1"
	if err := testutil.SameImage(ref, first); err != nil {
		t.Fatal(err)
	}
	gets := up.count("GET manifest") + up.count("GET blob")
	if err := testutil.SameImage(ref, first); err != nil {
		t.Fatal(err)
	}
	if up.count("HEAD manifest") == 0 {
		t.Error("a pull past the TTL did not revalidate the tag with a HEAD")
	}
	if got := up.count("GET manifest") + up.count("GET blob"); got != gets {
		t.Errorf("revalidating an unchanged tag fetched %d more manifests or blobs", got-gets)
	}

	second := randomImage(t, 2)
	up.push(t, "library/app:1", second)
	if err := testutil.SameImage(ref, second); err != nil {
		t.Fatalf("after the tag moved upstream: %v", err)
	}

	up.srv.Close() // the upstream goes away
	if err := testutil.SameImage(ref, second); err != nil {
		t.Fatalf("with the upstream down, the cached tag: %v", err)
	}
	d, _ := first.Digest()
	if err := testutil.SameImage(h.Addr+"/library/app@"+d.String(), first); err != nil {
		t.Fatalf("with the upstream down, a cached digest: %v", err)
	}
	if _, err := remote.Head(mustRef(t, h.Addr+"/library/other:1")); err == nil {
		t.Fatal("with the upstream down, a name never cached was served")
	}
}

// A hostile upstream's content that does not match its digest is
// refused, and nothing of it is stored.
func TestMirrorRefusesBadDigests(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 1)
	d := up.push(t, "library/app:1", img)
	h := mirrorHub(t, up, 0)
	up.hostile.Store(true)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	// A blob is served as it arrives: its mismatch, found at its end, is
	// a 502 when the fill is over before the answer starts, else the
	// answer is cut short. Never a whole 200.
	for _, path := range []string{"/v2/library/app/blobs/" + ld.String(), "/v2/library/app/manifests/" + d.String()} {
		resp, err := http.Get(h.URL() + path)
		if err != nil {
			continue // cut short before the headers were out
		}
		_, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway && (resp.StatusCode != http.StatusOK || rerr == nil) {
			t.Errorf("GET %s from a hostile upstream: %d, %v; want 502 or an answer cut short", path, resp.StatusCode, rerr)
		}
	}
	ctx := context.Background()
	if b, err := h.Deps.Meta.Blob(ctx, digest.Digest(ld.String())); !errdefs.IsNotFound(err) {
		t.Errorf("the hostile blob was recorded: %+v, %v", b, err)
	}
	if _, err := h.Deps.Meta.Manifest(ctx, "docker.io/library/app", d.String()); !errdefs.IsNotFound(err) {
		t.Errorf("the hostile manifest was stored: %v", err)
	}
	// Honest again: the same requests fill the cache.
	up.hostile.Store(false)
	if err := testutil.SameImage(h.Addr+"/library/app:1", img); err != nil {
		t.Fatal(err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A private dockerd started with --registry-mirror pulls docker.io names
// through the hub: the first pull fills the cache from the upstream; the
// same layers under another name are linked from the cache, not fetched;
// a warm pull within the TTL asks the upstream nothing.
func TestMirrorDockerRegistryMirror(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 2)
	up.push(t, "library/busyboxish:1", img)
	up.push(t, "someone/app:2", img)
	h := mirrorHub(t, up, 0)
	docker := testutil.StartDocker(t, "--registry-mirror=http://"+h.Addr)
	docker.Run(t, "pull", "busyboxish:1") // docker.io/library/busyboxish:1; no network but the mirror
	fetched := up.count("GET blob")
	if want := blobsOf(t, img); fetched != want {
		t.Errorf("docker's pull fetched %d blobs from the upstream, want %d", fetched, want)
	}
	d, _ := img.Digest()
	if got := docker.Run(t, "image", "inspect", "--format", "{{index .RepoDigests 0}}", "busyboxish:1"); !strings.Contains(got, d.String()) {
		t.Errorf("docker's image has digest %s, want %s", got, d)
	}
	docker.Run(t, "rmi", "busyboxish:1") // docker fetches the layers again
	docker.Run(t, "pull", "someone/app:2")
	if got := up.count("GET blob"); got != fetched {
		t.Errorf("pulling the same layers under another name fetched %d more blobs from the upstream", got-fetched)
	}
	docker.Run(t, "rmi", "someone/app:2")
	before := up.total()
	docker.Run(t, "pull", "someone/app:2")
	if got := up.total() - before; got != 0 {
		t.Errorf("docker's warm pull within the TTL made %d upstream requests, want 0", got)
	}
}

// gated lets gateAfter bytes of a body through, then waits for its gate.
type gated struct {
	http.ResponseWriter
	gate    chan struct{}
	written int
}

const gateAfter = 256 << 10

func (g *gated) Write(p []byte) (int, error) {
	if g.written < gateAfter && g.written+len(p) >= gateAfter {
		k := gateAfter - g.written
		n, err := g.ResponseWriter.Write(p[:k])
		g.written += n
		http.NewResponseController(g.ResponseWriter).Flush()
		if err != nil {
			return n, err
		}
		<-g.gate
		m, err := g.ResponseWriter.Write(p[k:])
		g.written += m
		return n + m, err
	}
	n, err := g.ResponseWriter.Write(p)
	g.written += n
	return n, err
}

func (g *gated) Flush() { http.NewResponseController(g.ResponseWriter).Flush() }

// A blob is served as it arrives: two clients read the first half of a
// blob the upstream has sent only half of, then the rest once it comes;
// one fetch from the upstream.
func TestMirrorStreamsWhileFilling(t *testing.T) {
	up := startUpstream(t)
	blob := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	d := digest.FromBytes(blob)
	resp, err := http.Post(up.hub.URL()+"/v2/library/big/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload to the upstream: %v %v", resp, err)
	}
	resp.Body.Close()
	up.gate = make(chan struct{})
	h := mirrorHub(t, up, 0)
	var bodies []io.ReadCloser
	for range 2 {
		resp, err := http.Get(h.URL() + "/v2/library/big/blobs/" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET through the mirror: %d", resp.StatusCode)
		}
		bodies = append(bodies, resp.Body)
		defer resp.Body.Close()
	}
	halves := make([][]byte, 2)
	for i, b := range bodies {
		halves[i] = make([]byte, 64<<10)
		if _, err := io.ReadFull(b, halves[i]); err != nil {
			t.Fatalf("client %d read nothing while the upstream was half way: %v", i, err)
		}
	}
	close(up.gate)
	for i, b := range bodies {
		rest, err := io.ReadAll(b)
		if err != nil || digest.FromBytes(append(halves[i], rest...)) != d {
			t.Fatalf("client %d: %d bytes, %v; not the blob", i, len(halves[i])+len(rest), err)
		}
	}
	if got := up.count("GET blob"); got != 1 {
		t.Errorf("two clients made %d upstream fetches, want 1", got)
	}
}

// What a manifest refers to is recorded once the repository holds it, so
// the collector keeps it, even when another hub process (or this one after
// a restart) filled the blobs: the next revalidation of the tag records them.
func TestMirrorRecordsReferencesAcrossProcesses(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 2)
	up.push(t, "library/app:1", img)
	dir := t.TempDir()
	ups := []mirror.Upstream{{URL: up.srv.URL, Prefix: "docker.io", Root: true, TagTTL: 1}}
	first := testutil.StartHub(t, hub.Config{DataDir: dir, Mirrors: ups, Upstreams: upstream.New(ups)})
	if _, err := remote.Get(mustRef(t, first.Addr+"/library/app:1")); err != nil { // the manifest alone
		t.Fatal(err)
	}
	second := testutil.StartHub(t, hub.Config{DataDir: dir, Mirrors: ups, Upstreams: upstream.New(ups)})
	if err := testutil.SameImage(second.Addr+"/library/app:1", img); err != nil { // its blobs, and a revalidation
		t.Fatal(err)
	}
	// A client may have its blob (go-containerregistry stops at the size
	// it expects) before the fill has recorded it: wait for the fills.
	unreferenced := func() []string {
		g, err := second.Deps.Meta.FindGarbage(context.Background(), time.Now().Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range g.Links {
			if l.Repository == "docker.io/library/app" {
				out = append(out, l.Digest.String())
			}
		}
		return out
	}
	layers, _ := img.Layers()
	cfgName, _ := img.ConfigName()
	want := []v1.Hash{cfgName}
	for _, l := range layers {
		d, _ := l.Digest()
		want = append(want, d)
	}
	testutil.WaitFor(10*time.Second, func() bool {
		for _, d := range want {
			if _, err := second.Deps.Meta.RepoBlob(context.Background(), "docker.io/library/app", digest.Digest(d.String())); err != nil {
				return false
			}
		}
		return len(unreferenced()) == 0
	})
	if u := unreferenced(); len(u) > 0 {
		t.Errorf("blobs %v of the mirrored image are not referenced by its manifest: the collector would take them", u)
	}
}

// A blob the mirror may not store (its namespace's quota is full) is
// refused as a push would be, before any byte goes out.
func TestMirrorQuota(t *testing.T) {
	up := startUpstream(t)
	img := randomImage(t, 1)
	up.push(t, "library/app:1", img)
	raw, _ := img.RawConfigFile()
	ups := []mirror.Upstream{{URL: up.srv.URL, Prefix: "docker.io", Root: true}}
	// The config fills the namespace exactly; the layer finds it full.
	h := testutil.StartHub(t, hub.Config{Mirrors: ups, Upstreams: upstream.New(ups), Quota: int64(len(raw))})
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	cfg, _ := img.ConfigName()
	for _, tc := range []struct {
		d      v1.Hash
		status int
	}{{cfg, http.StatusOK}, {ld, http.StatusForbidden}} {
		resp, err := http.Get(h.URL() + "/v2/library/app/blobs/" + tc.d.String())
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil {
			t.Errorf("GET blob %s through a mirror with quota %d: %d %.100q %v, want %d", tc.d, len(raw), resp.StatusCode, body, err, tc.status)
		}
	}
}

// BuildKit's registry cache as an index of blobs passes through a mirror:
// its blobs are served and recorded as the index's, so that the collector
// keeps them.
func TestMirrorBuildCacheIndex(t *testing.T) {
	up := startUpstream(t)
	config, layer := []byte(`{"layers":[],"records":[]}`), bytes.Repeat([]byte("layer"), 1000)
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + digest.FromBytes(layer).String() + `","size":5000},
		{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"` + digest.FromBytes(config).String() + `","size":26}]}`)
	for _, b := range [][]byte{config, layer} {
		if r := do(t, "POST", up.hub.URL()+"/v2/team/cache/blobs/uploads/?digest="+digest.FromBytes(b).String(), nil, b); r.StatusCode != 201 {
			t.Fatalf("upstream blob: %d", r.StatusCode)
		}
	}
	if r := do(t, "PUT", up.hub.URL()+"/v2/team/cache/manifests/main", map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}, idx); r.StatusCode != 201 {
		t.Fatalf("upstream index: %d", r.StatusCode)
	}
	ups := []mirror.Upstream{{URL: up.srv.URL, Prefix: "docker.io", Root: true}}
	h := testutil.StartHub(t, hub.Config{Mirrors: ups, Upstreams: upstream.New(ups), GCGrace: time.Millisecond})
	if r := do(t, "GET", h.URL()+"/v2/team/cache/manifests/main", nil, nil); r.StatusCode != 200 {
		t.Fatalf("the cache index through the mirror: %d", r.StatusCode)
	}
	for _, b := range [][]byte{config, layer} {
		r := do(t, "GET", h.URL()+"/v2/team/cache/blobs/"+digest.FromBytes(b).String(), nil, nil)
		got, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || !bytes.Equal(got, b) {
			t.Fatalf("a blob of the cache through the mirror: %d", r.StatusCode)
		}
	}
	// The fills record the blobs as the index's (maybe after the client has them).
	recorded := func() bool {
		g, err := h.Deps.Meta.FindGarbage(context.Background(), time.Now().Add(24*time.Hour))
		return err == nil && len(g.Links) == 0
	}
	testutil.WaitFor(10*time.Second, recorded)
	time.Sleep(5 * time.Millisecond)
	if _, err := h.Deps.Blobs.CollectGarbage(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	before := up.count("GET blob")
	for _, b := range [][]byte{config, layer} {
		if r := do(t, "GET", h.URL()+"/v2/team/cache/blobs/"+digest.FromBytes(b).String(), nil, nil); r.StatusCode != 200 {
			t.Fatalf("a blob of the cache after a collection: %d", r.StatusCode)
		}
	}
	if up.count("GET blob") != before {
		t.Error("the collector took the mirrored cache's blobs: they were fetched again")
	}
}
