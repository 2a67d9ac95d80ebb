package transfer

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
	"github.com/strata-dev/strata/internal/testutil"
)

// importImage makes a local image of one layer, as `strata import` does.
func importImage(t *testing.T, s *store.Store, tag string, files map[string][]byte) store.Image {
	t.Helper()
	img, err := s.Import(context.Background(), bytes.NewReader(makeTar(t, files)), store.ImportOptions{Tag: tagged(t, tag), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPushUploadsEachBlobOnce(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	s := openStore(t)
	importImage(t, s, r.ref(t, "team/app:1"), map[string][]byte{"f": randomFile(t, 300<<10)})

	var ev events
	res, err := Push(ctx, s, r.client, tagged(t, r.ref(t, "team/app:1")), PushOptions{Progress: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	if _, uploads := r.rec.BlobTransfers(); uploads == 0 {
		t.Fatal("the first push uploaded nothing")
	}
	for id, acts := range ev.actions() {
		if !slices.Equal(acts, []Action{Preparing, Pushed}) {
			t.Errorf("layer %s: events %v, want Preparing, Pushed", id, acts)
		}
	}
	img, _ := s.Resolve(ctx, r.ref(t, "team/app:1"))
	if want := r.ref(t, "team/app@") + res.Digest.String(); !slices.Contains(img.RepoDigests, want) {
		t.Errorf("repo digests %v lack %s", img.RepoDigests, want)
	}

	// A second tag, and the same tag again: no blob moves, the digest stays.
	if err := s.Tag(ctx, img.ID, tagged(t, r.ref(t, "team/app:2"))); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"team/app:2", "team/app:1"} {
		r.rec.Reset()
		ev = events{}
		again, err := Push(ctx, s, r.client, tagged(t, r.ref(t, tag)), PushOptions{Progress: ev.add})
		if err != nil {
			t.Fatal(err)
		}
		if _, uploads := r.rec.BlobTransfers(); uploads != 0 {
			t.Errorf("push of %s uploaded %d times: %+v", tag, uploads, r.rec.Requests())
		}
		if again.Digest != res.Digest {
			t.Errorf("push of %s gave digest %s, the first push %s", tag, again.Digest, res.Digest)
		}
		for id, acts := range ev.actions() {
			if !slices.Equal(acts, []Action{Preparing, LayerExists}) {
				t.Errorf("%s layer %s: events %v, want Preparing, Layer already exists", tag, id, acts)
			}
		}
	}
	desc, err := r.repo("team/app").Resolve(ctx, "2")
	if err != nil || desc.Digest != res.Digest {
		t.Errorf("the registry's team/app:2 is %+v, %v", desc, err)
	}
}

func TestPushMountsFromAnotherRepository(t *testing.T) {
	for _, auth := range []string{"none", "token"} {
		t.Run(auth, func(t *testing.T) {
			ctx := context.Background()
			var r registry
			if auth == "token" {
				reg, _ := testutil.StartTokenDistribution(t, map[string]string{"alice": "pw"})
				r.rec = testutil.StartRecorder(t, reg.Addr)
				r.client = remote.New(remote.Options{Credentials: aliceCreds})
			} else {
				r = startRegistry(t)
			}
			base := newImage(t, amd64, compress(t, makeTar(t, map[string][]byte{"base": randomFile(t, 100<<10)}), image.Gzip))
			upload(t, r.repo("alice/base"), base, "1")
			s := openStore(t)
			pulled, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "alice/base:1")), PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Tag(ctx, pulled.Image.ID, tagged(t, r.ref(t, "alice/app:1"))); err != nil {
				t.Fatal(err)
			}
			r.rec.Reset()
			var ev events
			if _, err := Push(ctx, s, r.client, tagged(t, r.ref(t, "alice/app:1")), PushOptions{Progress: ev.add}); err != nil {
				t.Fatal(err)
			}
			if _, uploads := r.rec.BlobTransfers(); uploads != 0 {
				t.Errorf("%d uploads; want every blob mounted: %+v", uploads, r.rec.Requests())
			}
			var mounted []Event
			for _, e := range ev.all {
				if e.Action == Mounted {
					mounted = append(mounted, e)
				}
			}
			if len(mounted) != 1 || mounted[0].From != "alice/base" || mounted[0].Text() != "Mounted from alice/base" {
				t.Errorf("mount events %+v, want one from alice/base", mounted)
			}
		})
	}
}

func TestPushCompressesAnUncompressedLayerOnce(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	s := openStore(t)
	raw := compress(t, makeTar(t, map[string][]byte{"raw": randomFile(t, 50<<10)}), image.Uncompressed)
	l, err := s.AddLayerBlob(ctx, bytes.NewReader(raw.data), raw.desc, raw.diffID)
	if err != nil {
		t.Fatal(err)
	}
	img := newImage(t, amd64, raw)
	cdesc, err := s.AddJSON(ctx, ocispec.MediaTypeImageConfig, img.config)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.WriteManifest(ctx, cdesc, []store.Layer{l})
	if err != nil {
		t.Fatal(err)
	}
	n.Tags = []reference.NamedTagged{tagged(t, r.ref(t, "raw/app:1"))}
	if _, err := s.Add(ctx, n); err != nil {
		t.Fatal(err)
	}
	first, err := Push(ctx, s, r.client, tagged(t, r.ref(t, "raw/app:1")), PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := r.repo("raw/app").FetchManifest(ctx, first.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.ParseManifest(ocispec.MediaTypeImageManifest, body)
	if err != nil || image.LayerCompression(m.Layers[0].MediaType) != image.Gzip {
		t.Fatalf("pushed manifest %s, %v: want a gzip layer", body, err)
	}
	// Another repository, so that nothing can be skipped for being there: the
	// same gzip blob is sent, and the manifest is the same.
	second, err := Push(ctx, s, r.client, tagged(t, r.ref(t, "raw/app:1")), PushOptions{})
	if err != nil || second.Digest != first.Digest {
		t.Fatalf("second push %s, %v; the first gave %s", second.Digest, err, first.Digest)
	}
	gc, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Content().Info(ctx, m.Layers[0].Digest); err != nil {
		t.Fatalf("GC (freed %d bytes) took the compressed layer: %v", gc, err)
	}
}
