package transfer

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// Images whose parts disagree, or whose layers are not what they claim, are
// refused with a clear error, and the store keeps no image and no partial blob.
func TestHostileImages(t *testing.T) {
	r := startRegistry(t)
	good := compress(t, makeTar(t, map[string][]byte{"f": []byte("content")}), image.Gzip)
	notTar := compress(t, []byte("this is not a tar archive, only text that goes on and on and on"), image.Gzip)
	notGzip := good
	notGzip.data = []byte("plain bytes in a gzip layer's clothing")
	notGzip.desc.Digest, notGzip.desc.Size = digest.FromBytes(notGzip.data), int64(len(notGzip.data))
	for _, tc := range []struct {
		name string
		img  func() testImage
	}{
		{"config names another diffID", func() testImage {
			l := good
			l.diffID = digest.FromString("something else")
			return newImage(t, amd64, l)
		}},
		{"more layers than diffIDs", func() testImage {
			img := newImage(t, amd64, good)
			extra := newImage(t, amd64, good, compress(t, makeTar(t, map[string][]byte{"g": []byte("g")}), image.Gzip))
			img.layers, img.manifest = extra.layers, mustJSON(t, manifestOf(img.configDesc(), extra.layers))
			return img
		}},
		{"layer is not a tar", func() testImage { return newImage(t, amd64, notTar) }},
		{"layer is not gzip", func() testImage { return newImage(t, amd64, notGzip) }},
		{"manifest understates a blob's size", func() testImage {
			img := newImage(t, amd64, good)
			short := good
			short.desc.Size--
			img.manifest = mustJSON(t, manifestOf(img.configDesc(), []layer{short}))
			return img
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			img := tc.img()
			upload(t, r.repo("hostile/app"), img, "1")
			s := openStore(t)
			_, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "hostile/app:1")), PullOptions{})
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Pull = %v; want an invalid-argument error", err)
			}
			if imgs, _ := s.Images(ctx); len(imgs) != 0 {
				t.Errorf("images stored: %+v", imgs)
			}
			if st, _ := s.Content().ListStatuses(ctx); len(st) != 0 {
				t.Errorf("partial blobs left: %+v", st)
			}
		})
	}
}

func manifestOf(config image.Descriptor, layers []layer) image.Manifest {
	m := image.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Config: config}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc)
	}
	return m
}
