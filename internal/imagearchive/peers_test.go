package imagearchive_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/imagearchive"
	"github.com/strata-dev/strata/internal/store"
	"github.com/strata-dev/strata/internal/testutil"
)

var ctx = context.Background()

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rootfsTar is a busybox rootfs as a layer tar file.
func rootfsTar(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	var buf bytes.Buffer
	if err := archive.WriteDir(ctx, &buf, dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// importBusybox imports the busybox rootfs into s as name.
func importBusybox(t *testing.T, s *store.Store, name string) store.Image {
	t.Helper()
	f, err := os.Open(rootfsTar(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tag, err := image.ParseTag(name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Import(ctx, f, store.ImportOptions{Source: "rootfs.tar", Tag: tag,
		Changes: []string{`CMD ["/bin/sh"]`, "ENV PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func save(t *testing.T, s *store.Store, f imagearchive.Format, names ...string) string {
	t.Helper()
	sel, err := imagearchive.Select(ctx, s, names)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "saved")
	if f.IsDir() {
		err = imagearchive.Save(ctx, s, sel, f, nil, out)
	} else {
		var file *os.File
		if file, err = os.Create(out); err != nil {
			t.Fatal(err)
		}
		err = imagearchive.Save(ctx, s, sel, f, file, "")
		file.Close()
	}
	if err != nil {
		t.Fatalf("save %s: %v", f, err)
	}
	return out
}

func load(t *testing.T, s *store.Store, path string) []imagearchive.Loaded {
	t.Helper()
	l, err := imagearchive.Load(ctx, s, path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return l
}

func wantLoaded(t *testing.T, loaded []imagearchive.Loaded, id, tag string) {
	t.Helper()
	for _, l := range loaded {
		if l.Image.ID.String() == id {
			for _, tg := range l.Tags {
				if tg == tag {
					return
				}
			}
			t.Fatalf("loaded %s with tags %v, want %s", id, l.Tags, tag)
		}
	}
	t.Fatalf("loaded %+v, want image %s", loaded, id)
}

// TestDockerRoundTrip: what strata saves, docker loads and runs; what docker
// saves of it, strata loads back as the same image.
func TestDockerRoundTrip(t *testing.T) {
	d := testutil.StartDocker(t)
	s := openStore(t)
	img := importBusybox(t, s, "strata/busybox:1")
	d.Run(t, "load", "-i", save(t, s, imagearchive.DockerArchive, "strata/busybox:1"))
	if id := strings.TrimSpace(d.Run(t, "image", "inspect", "-f", "{{.Id}}", "strata/busybox:1")); id != img.ID.String() {
		t.Fatalf("docker loaded %s, want %s", id, img.ID)
	}
	if out := d.Run(t, "run", "--rm", "--network", "none", "strata/busybox:1", "echo", "hello from strata"); out != "hello from strata\n" {
		t.Fatalf("docker run printed %q", out)
	}
	back := filepath.Join(t.TempDir(), "back.tar")
	d.Run(t, "tag", "strata/busybox:1", "strata/busybox:back")
	d.Run(t, "save", "-o", back, "strata/busybox:back")
	s2 := openStore(t)
	wantLoaded(t, load(t, s2, back), img.ID.String(), "docker.io/strata/busybox:back")
	// Into the first store again: the layer is known, so nothing new is stored but a tag.
	wantLoaded(t, load(t, s, back), img.ID.String(), "docker.io/strata/busybox:back")
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPodmanRoundTrip: podman loads strata's docker and OCI archives; strata
// loads podman's.
func TestPodmanRoundTrip(t *testing.T) {
	p := testutil.NewPodman(t)
	s := openStore(t)
	img := importBusybox(t, s, "strata/busybox:1")
	for _, f := range []imagearchive.Format{imagearchive.DockerArchive, imagearchive.OCIArchive} {
		p.Run(t, "load", "-i", save(t, s, f, "strata/busybox:1"))
		id := strings.TrimSpace(p.Run(t, "image", "inspect", "-f", "{{.Id}}", "docker.io/strata/busybox:1"))
		if "sha256:"+id != img.ID.String() && id != img.ID.String() {
			t.Fatalf("podman loaded %s from %s, want %s", id, f, img.ID)
		}
		p.Run(t, "rmi", "-f", "docker.io/strata/busybox:1")
	}
	p.Run(t, "load", "-i", save(t, s, imagearchive.DockerArchive, "strata/busybox:1"))
	for _, format := range []string{"docker-archive", "oci-archive"} {
		out := filepath.Join(t.TempDir(), format+".tar")
		p.Run(t, "save", "--format", format, "-o", out, "docker.io/strata/busybox:1")
		s2 := openStore(t)
		loaded := load(t, s2, out)
		// podman's OCI save converts the config (the ID changes); the layers stay.
		if len(loaded) != 1 || diffIDs(t, s2, loaded[0].Image) != diffIDs(t, s, img) ||
			format == "docker-archive" && loaded[0].Image.ID != img.ID {
			t.Fatalf("strata loaded %+v from podman's %s, want %s", loaded, format, img.ID)
		}
	}
}

// TestSkopeoRoundTrip: skopeo reads what strata saves in every format, and
// strata loads what skopeo copies into docker-archive: and oci-archive:.
func TestSkopeoRoundTrip(t *testing.T) {
	skopeo := testutil.Tool(t, "skopeo")
	s := openStore(t)
	img := importBusybox(t, s, "strata/busybox:1")
	sources := map[imagearchive.Format]string{
		imagearchive.DockerArchive: "docker-archive:",
		imagearchive.OCIArchive:    "oci-archive:",
		imagearchive.OCIDir:        "oci:",
	}
	for f, transport := range sources {
		ref := transport + save(t, s, f, "strata/busybox:1")
		if f == imagearchive.OCIDir || f == imagearchive.OCIArchive {
			ref += ":1" // the ref.name of the index entry
		}
		cfg := testutil.Run(t, nil, skopeo, "inspect", "--config", ref)
		if image.Digest([]byte(cfg)) != img.ID && !strings.Contains(cfg, `"diff_ids"`) {
			t.Fatalf("skopeo inspect --config %s: %s", ref, cfg)
		}
		// A copy to dir: makes skopeo read and verify every blob.
		testutil.Run(t, nil, skopeo, "copy", "--quiet", ref, "dir:"+t.TempDir())
		for _, dest := range []string{"docker-archive:", "oci-archive:"} {
			out := filepath.Join(t.TempDir(), "copy.tar")
			testutil.Run(t, nil, skopeo, "copy", "--quiet", ref, dest+out+":strata/busybox:copied")
			s2 := openStore(t)
			loaded := load(t, s2, out)
			// Copying between formats may convert the config: the layers must stay.
			if len(loaded) != 1 || diffIDs(t, s2, loaded[0].Image) != diffIDs(t, s, img) {
				t.Fatalf("strata loaded %+v from skopeo's %s copy of %s, want the layers of %s", loaded, dest, ref, img.ID)
			}
		}
	}
}

func diffIDs(t *testing.T, s *store.Store, img store.Image) string {
	t.Helper()
	cb, err := s.Config(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(cfg.RootFS.DiffIDs)
}
