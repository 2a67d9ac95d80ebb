package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

var ctx = context.Background()

type entry struct {
	name, body, link string
	typ              byte
}

// tarOf builds a layer tar from entries; a regular file unless typ says.
func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link}
		switch e.typ {
		case 0:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.body))
		case tar.TypeDir:
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func importTar(t testing.TB, s *Store, tarball []byte, tag string, changes ...string) Image {
	t.Helper()
	opts := ImportOptions{Source: "-", Changes: changes}
	if tag != "" {
		ref, err := image.ParseTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		opts.Tag = ref
	}
	img, err := s.Import(ctx, bytes.NewReader(tarball), opts)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return img
}

func blobCount(t testing.TB, s *Store) (n int, size int64) {
	t.Helper()
	s.Content().Walk(ctx, func(i content.Info) error { n++; size += i.Size; return nil })
	return n, size
}

func TestImportListResolve(t *testing.T) {
	s := openStore(t)
	layer := tarOf(t, entry{name: "bin/", typ: tar.TypeDir}, entry{name: "bin/sh", body: "#!shell"},
		entry{name: "bin/ls", link: "sh", typ: tar.TypeSymlink}, entry{name: "bin/hard", link: "bin/sh", typ: tar.TypeLink})
	img := importTar(t, s, layer, "busybox", `CMD ["sh"]`)
	if img.Size != int64(len("#!shell")+len("sh")) {
		t.Errorf("Size = %d, want the file bytes plus the symlink target", img.Size)
	}
	if len(img.Tags) != 1 || img.Tags[0] != "docker.io/library/busybox:latest" {
		t.Errorf("Tags = %v", img.Tags)
	}
	cb, err := s.Config(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil || len(cfg.Config.Cmd) != 1 || cfg.RootFS.DiffIDs[0] != digest.FromBytes(layer) {
		t.Fatalf("config = %+v, %v; want Cmd [sh] and the tar's diffID", cfg, err)
	}
	for _, name := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", img.ID.String(),
		img.ID.Encoded(), img.ID.Encoded()[:12], "sha256:" + img.ID.Encoded()[:6], "busybox@" + img.Manifest.Digest.String()} {
		got, err := s.Resolve(ctx, name)
		if err != nil || got.ID != img.ID {
			t.Errorf("Resolve(%q) = %s, %v; want %s", name, got.ID, err, img.ID)
		}
	}
	for name, class := range map[string]error{"nginx": errdefs.ErrNotFound, "BAD:ref": errdefs.ErrInvalidArgument,
		"sha256:zz": errdefs.ErrInvalidArgument, "abcdef0123": errdefs.ErrNotFound} {
		if _, err := s.Resolve(ctx, name); !errors.Is(err, class) {
			t.Errorf("Resolve(%q) = %v, want %v", name, err, class)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSharedLayerStoredOnce(t *testing.T) {
	s := openStore(t)
	layer := tarOf(t, entry{name: "big", body: string(bytes.Repeat([]byte("x"), 100_000))})
	a := importTar(t, s, layer, "a:1", "CMD a")
	b := importTar(t, s, layer, "b:1", "CMD b")
	if a.ID == b.ID || a.Manifest.Digest == b.Manifest.Digest {
		t.Fatal("two configs gave one image")
	}
	n, _ := blobCount(t, s)
	if n != 5 { // one layer, two configs, two manifests
		t.Fatalf("%d blobs stored, want 5 (the layer once)", n)
	}
	u, err := s.DiskUsage(ctx)
	if err != nil || u.Unshared <= u.Size {
		t.Fatalf("DiskUsage = %+v, %v: sharing should save space", u, err)
	}
	if _, err := s.Remove(ctx, "a:1", false); err != nil {
		t.Fatal(err)
	}
	if n, _ := blobCount(t, s); n != 3 {
		t.Fatalf("%d blobs after removing a, want 3 (b's layer stays)", n)
	}
	r, err := s.Remove(ctx, "b:1", false)
	if err != nil || r.Freed == 0 {
		t.Fatalf("Remove(b) = %+v, %v; want bytes freed", r, err)
	}
	if n, _ := blobCount(t, s); n != 0 {
		t.Fatalf("%d blobs left after removing every image", n)
	}
}

func TestRemoveLikeDocker(t *testing.T) {
	s := openStore(t)
	img := importTar(t, s, tarOf(t, entry{name: "f", body: "1"}), "one:a")
	for _, tag := range []string{"one:b", "two:a"} {
		ref, _ := image.ParseTag(tag)
		if err := s.Tag(ctx, img.ID, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Remove(ctx, img.ID.Encoded()[:12], false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("removing an image tagged in two repositories by ID = %v, want a conflict", err)
	}
	r, err := s.Remove(ctx, "one:a", false)
	if err != nil || len(r.Events) != 1 || r.Events[0].Untagged != "docker.io/library/one:a" {
		t.Fatalf("Remove(one:a) = %+v, %v; want only an untag", r, err)
	}
	s.InUse = func(context.Context, digest.Digest) ([]string, error) { return []string{"web"}, nil }
	if _, err := s.Remove(ctx, "one:b", false); err != nil {
		t.Fatalf("untagging one of two tags of an image in use: %v", err)
	}
	if _, err := s.Remove(ctx, "two:a", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("removing the last tag of an image in use = %v, want a conflict", err)
	}
	if got, _ := s.Resolve(ctx, "two:a"); got.ID != img.ID {
		t.Fatal("a refused removal still untagged")
	}
	s.InUse = nil
	r, err = s.Remove(ctx, img.ID.String(), false)
	if err != nil || r.Events[len(r.Events)-2].Deleted != img.ID {
		t.Fatalf("Remove(id) = %+v, %v", r, err)
	}
	if _, err := s.Resolve(ctx, img.ID.String()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("image still there: %v", err)
	}
}

func TestPruneDangling(t *testing.T) {
	s := openStore(t)
	old := importTar(t, s, tarOf(t, entry{name: "v1", body: "1"}), "app:latest")
	importTar(t, s, tarOf(t, entry{name: "v2", body: "2"}), "app:latest") // the tag moves: old dangles
	got, err := s.Get(ctx, old.ID)
	if err != nil || len(got.Tags) != 0 {
		t.Fatalf("old image = %+v, %v; want it untagged", got, err)
	}
	r, err := s.Prune(ctx, false)
	if err != nil || len(r.Events) == 0 || r.Events[0].Deleted != old.ID || r.Freed == 0 {
		t.Fatalf("Prune = %+v, %v; want the dangling image deleted and bytes freed", r, err)
	}
	imgs, _ := s.Images(ctx)
	if len(imgs) != 1 {
		t.Fatalf("%d images after prune, want 1", len(imgs))
	}
	if r, err := s.Prune(ctx, true); err != nil || len(imgs) != 1 || r.Freed == 0 {
		t.Fatalf("Prune(all) = %+v, %v", r, err)
	}
	if n, _ := blobCount(t, s); n != 0 {
		t.Fatalf("%d blobs left after prune -a", n)
	}
}

// TestBadImportChangesNothing: hostile or broken input is refused with a
// clear error and the store is as it was.
func TestBadImportChangesNothing(t *testing.T) {
	s := openStore(t)
	good := importTar(t, s, tarOf(t, entry{name: "ok", body: "fine"}), "good")
	n0, _ := blobCount(t, s)
	valid := tarOf(t, entry{name: "a", body: string(bytes.Repeat([]byte("y"), 5000))})
	cases := map[string][]byte{
		"escaping name":      tarOf(t, entry{name: "../../etc/passwd", body: "x"}),
		"escaping hard link": tarOf(t, entry{name: "l", link: "../../etc/shadow", typ: tar.TypeLink}),
		"truncated":          valid[:1000],
		"not a tar":          []byte("this is not a tar archive at all, not even close......"),
		"empty":              nil,
		"corrupt gzip":       {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3},
	}
	for name, in := range cases {
		_, err := s.Import(ctx, bytes.NewReader(in), ImportOptions{Source: name})
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: Import = %v, want an invalid-argument error", name, err)
		}
	}
	if _, err := s.Import(ctx, bytes.NewReader(valid), ImportOptions{Changes: []string{"RUN x"}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad --change: %v", err)
	}
	if n, _ := blobCount(t, s); n != n0 {
		t.Fatalf("%d blobs after bad imports, want %d", n, n0)
	}
	sts, _ := s.Content().ListStatuses(ctx)
	imgs, _ := s.Images(ctx)
	if len(sts) != 0 || len(imgs) != 1 || imgs[0].ID != good.ID {
		t.Fatalf("after bad imports: %d ingests left, images %v", len(sts), imgs)
	}
}

func TestPruneIngests(t *testing.T) {
	s := openStore(t)
	w, err := s.Content().Writer(ctx, "interrupted", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half a blob"))
	w.Close()
	if n, err := s.PruneIngests(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("PruneIngests(1h) = %d, %v; a fresh ingest must stay", n, err)
	}
	held, _ := s.Content().Writer(ctx, "held", ocispec.Descriptor{})
	if n, err := s.PruneIngests(ctx, 0); err != nil || n != int64(len("half a blob")) {
		t.Fatalf("PruneIngests(0) = %d, %v", n, err)
	}
	held.Close()
	sts, _ := s.Content().ListStatuses(ctx)
	if len(sts) != 1 || sts[0].Ref != "held" {
		t.Fatalf("ingests left: %+v; want only the one a writer held", sts)
	}
}
