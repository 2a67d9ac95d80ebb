package imagearchive_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/imagearchive"
	"github.com/strata-dev/strata/internal/store"
)

type file struct {
	name, body, link string
}

func tarFile(t *testing.T, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return buf.Bytes()
}

// dockerArchive builds a docker-save archive of one image with these layers;
// edit may change the files before they are written.
func dockerArchive(t *testing.T, layers [][]byte, tags []string, edit func(files []file) []file) []byte {
	t.Helper()
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{}}}
	var files []file
	var paths []string
	for i, l := range layers {
		d := digest.FromBytes(l)
		cfg["rootfs"].(map[string]any)["diff_ids"] = append(cfg["rootfs"].(map[string]any)["diff_ids"].([]digest.Digest), d)
		p := d.Encoded() + "/layer.tar"
		if i > 0 && bytes.Equal(l, layers[0]) {
			p = "copy/layer.tar"
		}
		paths = append(paths, p)
		files = append(files, file{name: p, body: string(l)})
	}
	cb, _ := json.Marshal(cfg)
	cname := digest.FromBytes(cb).Encoded() + ".json"
	mb, _ := json.Marshal([]map[string]any{{"Config": cname, "RepoTags": tags, "Layers": paths}})
	files = append(files, file{name: cname, body: string(cb)}, file{name: "manifest.json", body: string(mb)})
	if edit != nil {
		files = edit(files)
	}
	return tarFile(t, files...)
}

func replace(name, body string) func([]file) []file {
	return func(fs []file) []file {
		for i := range fs {
			if fs[i].name == name || strings.HasSuffix(fs[i].name, name) {
				fs[i].body = body
			}
		}
		return fs
	}
}

func ociArchive(t *testing.T, layer []byte, edit func(blobs map[string][]byte)) []byte {
	t.Helper()
	blobs := map[string][]byte{}
	add := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		blobs["blobs/sha256/"+d.Encoded()] = b
		return d
	}
	ld := add(layer)
	cb, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{ld}}})
	cd := add(cb)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: ld, Size: int64(len(layer))}}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md := add(mb)
	ib, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "example.com/bad:1"}}}})
	blobs["index.json"], blobs["oci-layout"] = ib, []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if edit != nil {
		edit(blobs)
	}
	var files []file
	for name, b := range blobs {
		files = append(files, file{name: name, body: string(b)})
	}
	return tarFile(t, files...)
}

// TestBadArchives: hostile and broken archives are refused with an
// invalid-argument error, and the store is left as it was.
func TestBadArchives(t *testing.T) {
	good := tarFile(t, file{name: "etc/hostname", body: "good\n"})
	other := tarFile(t, file{name: "etc/hostname", body: "other\n"})
	escaping := tarFile(t, file{name: "../../etc/passwd", body: "root::0:0::/:/bin/sh\n"})
	valid := dockerArchive(t, [][]byte{good}, []string{"ok:1"}, nil)
	cases := map[string][]byte{
		"truncated archive":           valid[:len(valid)/2],
		"not an archive":              []byte(strings.Repeat("garbage ", 200)),
		"corrupt gzip":                append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, bytes.Repeat([]byte{0xff}, 100)...),
		"layer with another diffID":   dockerArchive(t, [][]byte{good}, nil, replace("layer.tar", string(other))),
		"layer that is not a tar":     dockerArchive(t, [][]byte{good}, nil, replace("layer.tar", "not a tar")),
		"tar entry escaping the root": dockerArchive(t, [][]byte{good, escaping}, []string{"evil:1"}, nil),
		"invalid reference":           dockerArchive(t, [][]byte{good}, []string{"Not/Valid:Tag!"}, nil),
		"manifest naming a missing layer": dockerArchive(t, [][]byte{good}, nil, func(fs []file) []file {
			return fs[1:]
		}),
		"manifest path escaping the archive": dockerArchive(t, [][]byte{good}, nil, func(fs []file) []file {
			mb, _ := json.Marshal([]map[string]any{{"Config": "../../../etc/passwd", "Layers": []string{}}})
			return append(fs[:len(fs)-1], file{name: "manifest.json", body: string(mb)})
		}),
		"symlink escaping the archive": dockerArchive(t, [][]byte{good}, nil, func(fs []file) []file {
			fs[0] = file{name: fs[0].name, link: "../../../../etc/passwd"}
			return fs
		}),
		"config that does not match its name": dockerArchive(t, [][]byte{good}, nil, func(fs []file) []file {
			fs[len(fs)-2].body = strings.Replace(fs[len(fs)-2].body, "amd64", "arm64", 1)
			return fs
		}),
		"manifest.json not JSON": dockerArchive(t, [][]byte{good}, nil, replace("manifest.json", "{not json")),
		"OCI blob with another digest": ociArchive(t, good, func(b map[string][]byte) {
			b["blobs/sha256/"+digest.FromBytes(good).Encoded()] = other
		}),
		"OCI manifest naming a missing blob": ociArchive(t, good, func(b map[string][]byte) {
			delete(b, "blobs/sha256/"+digest.FromBytes(good).Encoded())
		}),
		"OCI index with a malformed digest": ociArchive(t, good, func(b map[string][]byte) {
			b["index.json"] = []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../x","size":1}]}`)
		}),
		"OCI layer escaping the root": ociArchive(t, escaping, nil),
	}
	s := openStore(t)
	goodPath := filepath.Join(t.TempDir(), "good.tar")
	os.WriteFile(goodPath, dockerArchive(t, [][]byte{tarFile(t, file{name: "kept", body: "x"})}, []string{"kept:1"}, nil), 0o644)
	load(t, s, goodPath)
	before := snapshot(t, s)
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.tar")
			os.WriteFile(p, archive, 0o644)
			_, err := imagearchive.Load(ctx, s, p)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Load = %v, want an invalid-argument error", err)
			}
			t.Logf("error: %v", err)
			if after := snapshot(t, s); after != before {
				t.Fatalf("the store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	// The good archive of the table does load: the cases fail for their flaw.
	p := filepath.Join(t.TempDir(), "valid.tar")
	os.WriteFile(p, valid, 0o644)
	load(t, s, p)
}

// snapshot describes what a store holds: images with their tags, blobs,
// ingests and temporary files.
func snapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	imgs, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		fmt.Fprintf(&b, "%s%v ", img.ID.Encoded()[:8], img.Tags)
	}
	s.Content().Walk(ctx, func(i content.Info) error { b.WriteString(i.Digest.Encoded()[:8] + " "); return nil })
	sts, _ := s.Content().ListStatuses(ctx)
	tmp, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	b.WriteString(strings.Repeat("ingest ", len(sts)) + strings.Repeat("tmp ", len(tmp)))
	return b.String()
}

// TestLoadDockerSchema2Layout: an OCI layout may hold Docker schema2
// manifests and manifest lists; the image for this platform is loaded and
// its manifest kept as it is (same digest).
func TestLoadDockerSchema2Layout(t *testing.T) {
	layer := tarFile(t, file{name: "etc/os-release", body: "ID=test\n"})
	var manifestDigest digest.Digest
	archive := ociArchive(t, layer, func(b map[string][]byte) {
		add := func(body []byte) digest.Digest {
			d := digest.FromBytes(body)
			b["blobs/sha256/"+d.Encoded()] = body
			return d
		}
		ld := digest.FromBytes(layer)
		cb, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
			"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{ld}}})
		cd := add(cb)
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
			`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},`+
			`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","digest":"%s","size":%d}]}`, cd, len(cb), ld, len(layer))
		manifestDigest = add([]byte(m))
		list := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[`+
			`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"%s","size":1,"platform":{"architecture":"arm64","os":"linux"}},`+
			`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
			digest.FromString("not here"), manifestDigest, len(m))
		ld2 := add([]byte(list))
		b["index.json"] = []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",`+
			`"digest":"%s","size":%d,"annotations":{"io.containerd.image.name":"example.com/multi:1"}}]}`, ld2, len(list)))
	})
	if image.DefaultPlatform().Architecture != "amd64" {
		t.Skip("the layout holds an amd64 image")
	}
	p := filepath.Join(t.TempDir(), "layout.tar")
	os.WriteFile(p, archive, 0o644)
	s := openStore(t)
	loaded := load(t, s, p)
	if len(loaded) != 1 || loaded[0].Image.Manifest.Digest != manifestDigest ||
		loaded[0].Image.Manifest.MediaType != image.MediaTypeDockerManifest || loaded[0].Tags[0] != "example.com/multi:1" {
		t.Fatalf("loaded %+v; want the amd64 schema2 manifest %s tagged example.com/multi:1", loaded, manifestDigest)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
