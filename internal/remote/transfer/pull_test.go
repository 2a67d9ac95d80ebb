package transfer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
	"github.com/strata-dev/strata/internal/testutil"
)

var amd64 = image.Platform{OS: "linux", Architecture: "amd64"}

// registry is a reference registry behind a recording proxy, with a client
// that reaches it through the proxy.
type registry struct {
	rec    *testutil.Recorder
	client *remote.Client
}

func startRegistry(t *testing.T) registry {
	reg := testutil.StartDistribution(t, "")
	return registry{rec: testutil.StartRecorder(t, reg.Addr), client: remote.New(remote.Options{})}
}

func (r registry) repo(name string) *remote.Repository {
	return r.client.Repository(r.rec.Addr, name, remote.Push)
}

func (r registry) ref(t *testing.T, s string) string { return r.rec.Addr + "/" + s }

func TestPullThenRepullMovesNoBlob(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	img := newImage(t, amd64,
		compress(t, makeTar(t, map[string][]byte{"a": randomFile(t, 100<<10)}), image.Gzip),
		compress(t, makeTar(t, map[string][]byte{"b": []byte("hello")}), image.Zstd),
		compress(t, makeTar(t, map[string][]byte{"c": []byte("plain")}), image.Uncompressed))
	upload(t, r.repo("team/app"), img, "1")
	s := openStore(t)
	var ev events
	res, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "team/app:1")), PullOptions{Progress: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	if res.UpToDate || res.Digest != img.digest() || res.Image.ID != img.configDesc().Digest {
		t.Errorf("Pull = %+v", res)
	}
	if want := []string{r.ref(t, "team/app:1")}; !slices.Equal(res.Image.Tags, want) {
		t.Errorf("tags %v, want %v", res.Image.Tags, want)
	}
	if want := []string{r.ref(t, "team/app@") + img.digest().String()}; !slices.Equal(res.Image.RepoDigests, want) {
		t.Errorf("repo digests %v, want %v", res.Image.RepoDigests, want)
	}
	want := []Action{PullingFSLayer, Verifying, DownloadComplete, Extracting, PullComplete}
	for _, l := range img.layers {
		if got := ev.actions()[ShortID(l.desc.Digest)]; !slices.Equal(got, want) {
			t.Errorf("layer %s: events %v, want %v", ShortID(l.desc.Digest), got, want)
		}
	}
	if gets, _ := r.rec.BlobTransfers(); gets != 4 {
		t.Errorf("first pull: %d blob downloads, want 4 (config and three layers)", gets)
	}

	r.rec.Reset()
	res, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "team/app:1")), PullOptions{})
	if err != nil || !res.UpToDate {
		t.Fatalf("re-pull = %+v, %v; want up to date", res, err)
	}
	reqs := r.rec.Requests()
	if len(reqs) != 1 || reqs[0].Method != "HEAD" || !strings.Contains(reqs[0].Path, "/manifests/1") {
		t.Errorf("re-pull sent %+v; want only a HEAD of the manifest", reqs)
	}
	// By digest, nothing at all is asked: the manifest is here.
	r.rec.Reset()
	if res, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "team/app@")+img.digest().String()), PullOptions{}); err != nil || !res.UpToDate {
		t.Fatalf("pull by digest = %+v, %v", res, err)
	}
	if reqs := r.rec.Requests(); len(reqs) != 0 {
		t.Errorf("pull by a local digest sent %+v", reqs)
	}
	// Another tag of the same image: the manifest is here, so only its HEAD moves.
	upload(t, r.repo("team/app"), img, "2")
	r.rec.Reset()
	if res, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "team/app:2")), PullOptions{}); err != nil || !res.UpToDate {
		t.Fatalf("pull of a second tag = %+v, %v", res, err)
	}
	if !slices.Contains(res.Image.Tags, r.ref(t, "team/app:2")) {
		t.Errorf("second tag not recorded: %v", res.Image.Tags)
	}
	if gets, _ := r.rec.BlobTransfers(); gets != 0 {
		t.Errorf("pull of a second tag downloaded %d blobs", gets)
	}
}

func TestLayerInAnotherCompressionIsNotDownloaded(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	base := makeTar(t, map[string][]byte{"base": randomFile(t, 64<<10)})
	gz, zst := compress(t, base, image.Gzip), compress(t, base, image.Zstd)
	top := compress(t, makeTar(t, map[string][]byte{"top": []byte("top")}), image.Gzip)
	upload(t, r.repo("a/gz"), newImage(t, amd64, gz), "1")
	zimg := newImage(t, amd64, zst, top)
	upload(t, r.repo("b/zstd"), zimg, "1")

	s := openStore(t)
	if _, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/gz:1")), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	r.rec.Reset()
	var ev events
	res, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "b/zstd:1")), PullOptions{Progress: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range r.rec.Requests() {
		if strings.HasSuffix(req.Path, zst.desc.Digest.String()) {
			t.Errorf("the zstd blob of a layer stored as gzip was requested: %+v", req)
		}
	}
	if gets, _ := r.rec.BlobTransfers(); gets != 2 {
		t.Errorf("%d blob downloads, want 2 (config and the new layer)", gets)
	}
	if got := ev.actions()[ShortID(zst.desc.Digest)]; !slices.Equal(got, []Action{AlreadyExists}) {
		t.Errorf("the layer here in gzip: events %v, want Already exists", got)
	}
	if res.Image.ID != zimg.configDesc().Digest {
		t.Errorf("image ID %s, want the config digest %s", res.Image.ID, zimg.configDesc().Digest)
	}
	if want := r.ref(t, "b/zstd@") + zimg.digest().String(); !slices.Equal(res.Image.RepoDigests, []string{want}) {
		t.Errorf("repo digests %v, want the registry's %s", res.Image.RepoDigests, want)
	}
	layers, err := s.ImageLayers(ctx, res.Image)
	if err != nil || len(layers) != 2 || layers[0].Blob.Digest != gz.desc.Digest || layers[1].DiffID != top.diffID {
		t.Fatalf("stored layers %+v, %v; want the gzip blob, then the new layer", layers, err)
	}
	// And the re-pull of it moves nothing either.
	r.rec.Reset()
	if res, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "b/zstd:1")), PullOptions{}); err != nil || !res.UpToDate {
		t.Fatalf("re-pull = %+v, %v", res, err)
	}
	if gets, _ := r.rec.BlobTransfers(); gets != 0 {
		t.Errorf("re-pull downloaded %d blobs", gets)
	}
}

func TestInterruptedPullResumes(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	big := compress(t, makeTar(t, map[string][]byte{"big": randomFile(t, 4<<20)}), image.Gzip)
	img := newImage(t, amd64, big)
	upload(t, r.repo("a/big"), img, "1")

	t.Run("connection cut during the pull", func(t *testing.T) {
		s := openStore(t)
		r.rec.Reset()
		r.rec.CutAfter(big.desc.Digest.String(), 1<<20)
		var ev events
		if _, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/big:1")), PullOptions{Progress: ev.add}); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ev.actions()[ShortID(big.desc.Digest)], Retrying) {
			t.Error("no Retrying event")
		}
		assertResumed(t, r.rec, big, 1)
	})
	t.Run("a later pull resumes an earlier one's bytes", func(t *testing.T) {
		s := openStore(t)
		w, err := s.Content().Writer(ctx, ingestRef(big.desc), big.desc)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(big.data[:3<<20]) // what an earlier pull, killed, had written
		w.Close()
		r.rec.Reset()
		if _, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/big:1")), PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertResumed(t, r.rec, big, 3<<20)
	})
}

// assertResumed checks that the last download of l asked for a Range from at
// least min bytes, and that the blob is whole.
func assertResumed(t *testing.T, rec *testutil.Recorder, l layer, min int64) {
	t.Helper()
	var ranges []string
	for _, req := range rec.Requests() {
		if req.Method == "GET" && strings.HasSuffix(req.Path, l.desc.Digest.String()) {
			ranges = append(ranges, req.Range)
		}
	}
	if len(ranges) == 0 || ranges[len(ranges)-1] == "" {
		t.Fatalf("downloads of the layer asked for ranges %q; want the last to resume", ranges)
	}
	var from int64
	if _, err := fmtSscanf(ranges[len(ranges)-1], &from); err != nil || from < min || from >= l.desc.Size {
		t.Fatalf("resumed with Range %q, want from at least %d", ranges[len(ranges)-1], min)
	}
}

func TestCorruptBlobIsDiscarded(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	l := compress(t, makeTar(t, map[string][]byte{"f": randomFile(t, 200<<10)}), image.Gzip)
	upload(t, r.repo("a/b"), newImage(t, amd64, l), "1")
	s := openStore(t)
	r.rec.Corrupt(l.desc.Digest.String())
	_, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/b:1")), PullOptions{})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "discarded") {
		t.Fatalf("Pull of a corrupted blob = %v", err)
	}
	if st, _ := s.Content().ListStatuses(ctx); len(st) != 0 {
		t.Errorf("ingests left behind: %+v", st)
	}
	if _, err := s.Content().Info(ctx, l.desc.Digest); !errdefs.IsNotFound(err) {
		t.Errorf("a corrupted blob is stored: %v", err)
	}
	if _, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/b:1")), PullOptions{}); err != nil {
		t.Fatalf("pull after the corruption passed: %v", err)
	}
}

func TestPlatformFromIndex(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	arm := image.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	imgs := []testImage{
		newImage(t, amd64, compress(t, makeTar(t, map[string][]byte{"amd": []byte("amd64")}), image.Gzip)),
		newImage(t, arm, compress(t, makeTar(t, map[string][]byte{"arm": []byte("arm64")}), image.Gzip)),
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, img := range imgs {
		upload(t, r.repo("multi/app"), img, "")
		idx.Manifests = append(idx.Manifests, img.desc())
	}
	body := mustJSON(t, idx)
	if _, err := r.repo("multi/app").PushManifest(ctx, "1", ocispec.MediaTypeImageIndex, body); err != nil {
		t.Fatal(err)
	}
	upload(t, r.repo("single/app"), imgs[0], "1")
	s := openStore(t)
	for _, tc := range []struct {
		platform image.Platform
		want     testImage
	}{{arm, imgs[1]}, {amd64, imgs[0]}} {
		res, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "multi/app:1")), PullOptions{Platform: tc.platform})
		if err != nil {
			t.Fatal(err)
		}
		if res.Image.ID != tc.want.configDesc().Digest || res.Digest != image.Digest(body) || res.UpToDate {
			t.Errorf("%s: pulled %+v", image.FormatPlatform(tc.platform), res)
		}
	}
	_, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "multi/app:1")), PullOptions{Platform: image.Platform{OS: "linux", Architecture: "s390x"}})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/s390x") {
		t.Errorf("pull for a platform the index lacks = %v", err)
	}
	_, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "single/app:1")), PullOptions{Platform: arm})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("pull of an amd64 image for arm64 = %v", err)
	}
	_, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "single/app:nosuchtag")), PullOptions{})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "single/app:nosuchtag") {
		t.Errorf("pull of a missing tag = %v", err)
	}
}

// Two pulls of one image into one store at once (as two processes would,
// each with its own handle): each blob is downloaded once, and both succeed.
func TestConcurrentPullsShareDownloads(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	img := newImage(t, amd64,
		compress(t, makeTar(t, map[string][]byte{"a": randomFile(t, 2<<20)}), image.Gzip),
		compress(t, makeTar(t, map[string][]byte{"b": randomFile(t, 2<<20)}), image.Gzip))
	upload(t, r.repo("a/shared"), img, "1")
	root := t.TempDir()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := store.Open(ctx, root)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			_, err = Pull(ctx, s, r.client, ref(t, r.ref(t, "a/shared:1")), PullOptions{})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if gets, _ := r.rec.BlobTransfers(); gets != 3 {
		t.Errorf("%d blob downloads for two concurrent pulls, want 3 (each blob once)", gets)
	}
}
