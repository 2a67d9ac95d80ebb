package transfer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
)

// layer is a layer blob made in a test: a tar of files, compressed.
type layer struct {
	desc   image.Descriptor
	diffID digest.Digest
	data   []byte
}

// makeTar is a layer tar holding files (name to content).
func makeTar(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomFile is n bytes that do not compress.
func randomFile(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func compress(t *testing.T, tarball []byte, c image.Compression) layer {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case image.Gzip:
		zw := gzip.NewWriter(&buf)
		zw.Write(tarball)
		zw.Close()
	case image.Zstd:
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(tarball)
		zw.Close()
	default:
		buf.Write(tarball)
	}
	b := buf.Bytes()
	return layer{desc: image.Descriptor{MediaType: image.LayerMediaType(ocispec.MediaTypeImageManifest, c),
		Digest: digest.FromBytes(b), Size: int64(len(b))}, diffID: digest.FromBytes(tarball), data: b}
}

// testImage is an OCI image made of layers, ready to push.
type testImage struct {
	layers   []layer
	config   []byte
	manifest []byte
	platform image.Platform
}

func newImage(t *testing.T, p image.Platform, layers ...layer) testImage {
	t.Helper()
	cfg := image.Config{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
		RootFS: ocispec.RootFS{Type: "layers"}, Config: image.ContainerConfig{Cmd: []string{"/bin/sh"}}}
	for i, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, image.History{CreatedBy: fmt.Sprintf("layer %d", i)})
	}
	img := testImage{layers: layers, platform: p}
	img.config = mustJSON(t, cfg)
	m := image.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.configDesc()}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc)
	}
	img.manifest = mustJSON(t, m)
	return img
}

func (img testImage) configDesc() image.Descriptor {
	return image.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(img.config), Size: int64(len(img.config))}
}

func (img testImage) digest() digest.Digest { return digest.FromBytes(img.manifest) }

func (img testImage) desc() image.Descriptor {
	p := img.platform
	return image.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: img.digest(), Size: int64(len(img.manifest)), Platform: &p}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload pushes img with the registry client, as another tool would; tag may be "".
func upload(t *testing.T, repo *remote.Repository, img testImage, tag string) {
	t.Helper()
	ctx := context.Background()
	blobs := append([]layer{{desc: img.configDesc(), data: img.config}}, img.layers...)
	for _, b := range blobs {
		if err := repo.PushBlob(ctx, b.desc, bytes.NewReader(b.data), remote.PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ref := tag
	if ref == "" {
		ref = img.digest().String()
	}
	if _, err := repo.PushManifest(ctx, ref, ocispec.MediaTypeImageManifest, img.manifest); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ref(t *testing.T, s string) reference.Named {
	t.Helper()
	r, err := image.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tagged(t *testing.T, s string) reference.NamedTagged {
	t.Helper()
	r, err := image.ParseTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// events records progress events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

// actions lists, per short ID, the actions seen other than byte progress.
func (e *events) actions() map[string][]Action {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string][]Action{}
	for _, ev := range e.all {
		if ev.Action != Downloading && ev.Action != Pushing {
			out[ev.ID] = append(out[ev.ID], ev.Action)
		}
	}
	return out
}

// fmtSscanf reads the start of a "bytes=N-" Range header.
func fmtSscanf(rangeHeader string, from *int64) (int, error) {
	return fmt.Sscanf(rangeHeader, "bytes=%d-", from)
}

func aliceCreds(string) (credentials.Credential, error) {
	return credentials.Credential{Username: "alice", Password: "pw"}, nil
}
