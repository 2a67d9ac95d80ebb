package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/testutil"
)

// blob is content with its descriptor.
type blob struct {
	desc image.Descriptor
	data []byte
}

func newBlob(mt string, data []byte) blob {
	return blob{image.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, data}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// testImage is a config, layers of random bytes (registries do not look
// inside them) and an OCI manifest naming them.
type testImage struct {
	config   blob
	layers   []blob
	manifest []byte
}

func newTestImage(t *testing.T, layerSizes ...int) testImage {
	var img testImage
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers"}}
	img.config = newBlob(ocispec.MediaTypeImageConfig, mustJSON(t, cfg))
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.config.desc}
	m.SchemaVersion = 2
	for _, n := range layerSizes {
		l := newBlob(ocispec.MediaTypeImageLayerGzip, randomBytes(t, n))
		img.layers = append(img.layers, l)
		m.Layers = append(m.Layers, l.desc)
	}
	img.manifest = mustJSON(t, m)
	return img
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (img testImage) blobs() []blob { return append([]blob{img.config}, img.layers...) }

// push uploads img's blobs and tags its manifest.
func push(t *testing.T, r *Repository, img testImage, tag string, opts PushOptions) {
	t.Helper()
	ctx := context.Background()
	for _, b := range img.blobs() {
		if err := r.PushBlob(ctx, b.desc, bytes.NewReader(b.data), opts); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	if _, err := r.PushManifest(ctx, tag, ocispec.MediaTypeImageManifest, img.manifest); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
}

func userCreds(user, pass string) CredentialFunc {
	return func(string) (credentials.Credential, error) {
		return credentials.Credential{Username: user, Password: pass}, nil
	}
}

func TestRoundTripBasicAuth(t *testing.T) {
	reg := testutil.StartDistribution(t, "alice:secret")
	rec := testutil.StartRecorder(t, reg.Addr)
	ctx := context.Background()
	c := New(Options{Credentials: userCreds("alice", "secret")})
	repo := c.Repository(rec.Addr, "alice/app", Push)
	img := newTestImage(t, 3<<20, 1000)
	rec.ChunkMinLength = 1 << 20
	push(t, repo, img, "v1", PushOptions{ChunkSize: 512 << 10}) // raised to 1 MiB by the registry's minimum

	var patches []int64
	for _, r := range rec.Requests() {
		if r.Method == http.MethodPatch {
			patches = append(patches, r.Size)
		}
	}
	if !slices.Equal(patches, []int64{1 << 20, 1 << 20, 1 << 20}) {
		t.Errorf("PATCH sizes %v, want three chunks of OCI-Chunk-Min-Length (1 MiB)", patches)
	}

	desc, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest.FromBytes(img.manifest) || desc.MediaType != ocispec.MediaTypeImageManifest || desc.Size != int64(len(img.manifest)) {
		t.Errorf("Resolve = %+v", desc)
	}
	got, body, err := repo.FetchManifest(ctx, desc.Digest.String())
	if err != nil || !bytes.Equal(body, img.manifest) || got.Digest != desc.Digest {
		t.Fatalf("FetchManifest = %+v, %v", got, err)
	}
	layer := img.layers[0]
	for _, off := range []int64{0, 12345, layer.desc.Size - 1} {
		rc, err := repo.FetchBlob(ctx, layer.desc, off)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, layer.data[off:]) {
			t.Fatalf("FetchBlob from %d: %d bytes, %v", off, len(b), err)
		}
	}
	if last := rec.Requests()[len(rec.Requests())-1]; last.Range != "bytes="+strconv.FormatInt(layer.desc.Size-1, 10)+"-" {
		t.Errorf("resume asked for Range %q", last.Range)
	}
	for dgst, want := range map[digest.Digest]bool{layer.desc.Digest: true, digest.FromString("nope"): false} {
		if ok, err := repo.BlobExists(ctx, dgst); err != nil || ok != want {
			t.Errorf("BlobExists(%s) = %v, %v", dgst, ok, err)
		}
	}
	push(t, repo, img, "v2", PushOptions{})
	tags, err := repo.Tags(ctx)
	if sort.Strings(tags); err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags = %v, %v", tags, err)
	}
	if _, err := repo.Resolve(ctx, "nosuchtag"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "alice/app:nosuchtag") {
		t.Errorf("Resolve(missing tag) = %v, want not found naming it", err)
	}

	for name, creds := range map[string]CredentialFunc{"anonymous": nil, "wrong password": userCreds("alice", "nope")} {
		bad := New(Options{Credentials: creds}).Repository(reg.Addr, "alice/app", Pull)
		if _, err := bad.Resolve(ctx, "v1"); !errors.Is(err, errdefs.ErrUnauthorized) {
			t.Errorf("%s: Resolve = %v, want unauthorized", name, err)
		}
	}
}

func TestTokenAuthMountsWithOneToken(t *testing.T) {
	reg, ts := testutil.StartTokenDistribution(t, map[string]string{"alice": "secret"})
	ctx := context.Background()
	c := New(Options{Credentials: userCreds("alice", "secret")})
	base := newTestImage(t, 2000)
	push(t, c.Repository(reg.Addr, "alice/base", Push), base, "1", PushOptions{})

	app := c.Repository(reg.Addr, "alice/app", Push, "alice/base")
	for _, b := range base.blobs() {
		mounted, up, err := app.Mount(ctx, b.desc.Digest, "alice/base")
		if err != nil || !mounted || up != nil {
			t.Fatalf("Mount = %v, %v, %v; want mounted", mounted, up, err)
		}
	}
	if _, err := app.PushManifest(ctx, "1", ocispec.MediaTypeImageManifest, base.manifest); err != nil {
		t.Fatalf("manifest whose blobs were mounted: %v", err)
	}
	var appToken *testutil.TokenRequest
	for _, r := range ts.Requests() {
		if slices.Contains(r.Scopes, "repository:alice/app:pull,push") {
			appToken = &r
			break
		}
	}
	if appToken == nil || !slices.Contains(appToken.Scopes, "repository:alice/base:pull") || appToken.User != "alice" {
		t.Fatalf("token requests %+v: want one for alice/app push with alice/base pull", ts.Requests())
	}
	// A blob the source does not have is not mounted: the registry opens an
	// upload instead, and PushBlob uses it.
	extra := newBlob("application/octet-stream", randomBytes(t, 100))
	mounted, up, err := app.Mount(ctx, extra.desc.Digest, "alice/base")
	if err != nil || mounted || up == nil {
		t.Fatalf("Mount of a missing blob = %v, %v, %v", mounted, up, err)
	}
	if err := app.PushBlob(ctx, extra.desc, bytes.NewReader(extra.data), PushOptions{Session: up}); err != nil {
		t.Fatal(err)
	}

	anon := New(Options{}).Repository(reg.Addr, "alice/base", Pull)
	if _, err := anon.Resolve(ctx, "1"); err != nil {
		t.Errorf("anonymous pull (the token server grants pull): %v", err)
	}
	if err := anon.PushBlob(ctx, extra.desc, bytes.NewReader(extra.data), PushOptions{}); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Errorf("anonymous push = %v, want unauthorized", err)
	}
	bad := New(Options{Credentials: userCreds("alice", "wrong")}).Repository(reg.Addr, "alice/base", Pull)
	if _, err := bad.Resolve(ctx, "1"); !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("wrong password = %v, want unauthorized naming the user", err)
	}
}

func TestTokenRefresh(t *testing.T) {
	reg, ts := testutil.StartTokenDistribution(t, map[string]string{"alice": "secret"})
	ts.ExpiresIn = 60
	var mu sync.Mutex
	offset := time.Duration(0) // how far the client's clock is ahead of the real one
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	ctx := context.Background()
	repo := New(Options{Credentials: userCreds("alice", "secret"), Now: now}).Repository(reg.Addr, "alice/app", Push)
	img := newTestImage(t, 10)
	push(t, repo, img, "1", PushOptions{})
	n := len(ts.Requests())
	if _, err := repo.Resolve(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if len(ts.Requests()) != n {
		t.Fatalf("a fresh token was not reused: %d token requests, then %d", n, len(ts.Requests()))
	}
	mu.Lock()
	offset = 61 * time.Second // past the token's life
	mu.Unlock()
	if _, err := repo.Resolve(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if len(ts.Requests()) != n+1 {
		t.Fatalf("an expired token was not refreshed: %d token requests, want %d", len(ts.Requests()), n+1)
	}
}

func TestLogin(t *testing.T) {
	basic := testutil.StartDistribution(t, "alice:secret")
	token, _ := testutil.StartTokenDistribution(t, map[string]string{"alice": "secret"})
	open := testutil.StartDistribution(t, "")
	ctx := context.Background()
	c := New(Options{})
	for _, tc := range []struct {
		name, addr, pass string
		ok               bool
	}{
		{"basic", basic.Addr, "secret", true},
		{"basic wrong", basic.Addr, "nope", false},
		{"token", token.Addr, "secret", true},
		{"token wrong", token.Addr, "nope", false},
		{"no auth", open.Addr, "anything", true},
	} {
		err := c.Login(ctx, tc.addr, credentials.Credential{Username: "alice", Password: tc.pass})
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, errdefs.ErrUnauthorized)) {
			t.Errorf("%s: Login = %v", tc.name, err)
		}
	}
}
