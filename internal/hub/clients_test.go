package hub_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// push writes img to the hub as ref with go-containerregistry.
func push(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(2048, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCrane(t *testing.T) {
	crane := testutil.Tool(t, "crane")
	h := testutil.StartHub(t, hub.Config{})
	d := push(t, h.Addr+"/lib/src:1", randomImage(t, 3))
	run := func(args ...string) string { return strings.TrimSpace(testutil.Run(t, nil, crane, args...)) }

	if got := run("digest", h.Addr+"/lib/src:1"); got != d.String() {
		t.Fatalf("crane digest = %s, want %s", got, d)
	}
	run("copy", h.Addr+"/lib/src:1", h.Addr+"/other/dst:2")
	if got := run("digest", h.Addr+"/other/dst:2"); got != d.String() {
		t.Fatalf("copied digest = %s, want %s", got, d)
	}
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	run("pull", h.Addr+"/lib/src:1", tarPath)
	run("push", tarPath, h.Addr+"/lib/pushed:3")
	if got := run("digest", h.Addr+"/lib/pushed:3"); got != d.String() {
		t.Fatalf("pushed digest = %s, want %s", got, d)
	}
	run("tag", h.Addr+"/lib/src:1", "2")
	if got := run("ls", h.Addr+"/lib/src"); got != "1\n2" {
		t.Fatalf("crane ls = %q", got)
	}
	if got := run("catalog", h.Addr); got != "lib/pushed\nlib/src\nother/dst" {
		t.Fatalf("crane catalog = %q", got)
	}
	run("delete", h.Addr+"/lib/src@"+d.String())
	if _, err := testutil.RunErr(nil, crane, "manifest", h.Addr+"/lib/src:1"); err == nil {
		t.Fatal("the manifest is still there after crane delete")
	}
	if got := run("digest", h.Addr+"/other/dst:2"); got != d.String() {
		t.Fatalf("deleting from one repository touched another: %s", got)
	}
}

func TestSkopeo(t *testing.T) {
	skopeo := testutil.Tool(t, "skopeo")
	h := testutil.StartHub(t, hub.Config{})
	img := randomImage(t, 2)
	push(t, h.Addr+"/src/img:1", img)
	layout := filepath.Join(t.TempDir(), "layout")
	tls := []string{"--src-tls-verify=false", "--dest-tls-verify=false"}
	testutil.Run(t, nil, skopeo, append([]string{"copy", "docker://" + h.Addr + "/src/img:1", "oci:" + layout + ":x"}, tls...)...)
	testutil.Run(t, nil, skopeo, append([]string{"copy", "oci:" + layout + ":x", "docker://" + h.Addr + "/dst/img:2"}, tls...)...)
	out := testutil.Run(t, nil, skopeo, "inspect", "--tls-verify=false", "docker://"+h.Addr+"/dst/img:2")
	var info struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	// Through an OCI layout the manifest becomes OCI's (a new digest); the layers stay.
	layers, _ := img.Layers()
	for i, l := range layers {
		ld, _ := l.Digest()
		if len(info.Layers) != len(layers) || info.Layers[i] != ld.String() {
			t.Fatalf("skopeo inspect layers = %v, want layer %d to be %s", info.Layers, i, ld)
		}
	}
	if got := testutil.Run(t, nil, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+h.Addr+"/dst/img@"+info.Digest); !strings.Contains(got, "application/vnd.oci.image.manifest.v1+json") {
		t.Fatalf("skopeo inspect --raw by digest: %s", got)
	}
	out = testutil.Run(t, nil, skopeo, "list-tags", "--tls-verify=false", "docker://"+h.Addr+"/dst/img")
	if !strings.Contains(out, `"2"`) {
		t.Fatalf("skopeo list-tags: %s", out)
	}
}

func TestOrasAttachDiscover(t *testing.T) {
	oras := testutil.Tool(t, "oras")
	h := testutil.StartHub(t, hub.Config{})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello hub\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sig.txt"), []byte("signed\n"), 0o644)
	orasIn := func(args ...string) string {
		t.Helper()
		cmd := []string{"-c", `cd "$0" && exec "$@"`, dir, oras}
		return testutil.Run(t, nil, "sh", append(cmd, args...)...)
	}
	ref := h.Addr + "/art/facts:v1"
	orasIn("push", "--plain-http", "--artifact-type", "application/vnd.strata.test", ref, "hello.txt")
	orasIn("attach", "--plain-http", "--artifact-type", "application/vnd.strata.signature", ref, "sig.txt")
	out := orasIn("discover", "--plain-http", "--format", "json", ref)
	var found struct {
		Referrers []struct {
			ArtifactType string `json:"artifactType"`
			Digest       string `json:"digest"`
		} `json:"referrers"`
		Manifests []struct {
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("oras discover: %v\n%s", err, out)
	}
	types := []string{}
	for _, r := range found.Referrers {
		types = append(types, r.ArtifactType)
	}
	for _, m := range found.Manifests {
		types = append(types, m.ArtifactType)
	}
	if len(types) != 1 || types[0] != "application/vnd.strata.signature" {
		t.Fatalf("oras discover found %v, want the one signature:\n%s", types, out)
	}
	pulled := t.TempDir()
	testutil.Run(t, nil, oras, "pull", "--plain-http", "-o", pulled, ref)
	if b, _ := os.ReadFile(filepath.Join(pulled, "hello.txt")); string(b) != "hello hub\n" {
		t.Fatalf("oras pull gave %q", b)
	}
}

// busybox is a runnable image: Debian's static busybox as /bin/busybox and /bin/sh.
func busybox(t *testing.T) v1.Image {
	t.Helper()
	bb := testutil.Tool(t, "busybox")
	body, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))})
	tw.Write(body)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh", "-c", "echo hello from the hub"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestDocker(t *testing.T) {
	docker := testutil.StartDocker(t)
	h := testutil.StartHub(t, hub.Config{})
	push(t, h.Addr+"/tools/busybox:1", busybox(t))

	docker.Run(t, "pull", h.Addr+"/tools/busybox:1")
	if out := docker.Run(t, "search", "--format", "{{.Name}}", h.Addr+"/busy"); strings.TrimSpace(out) != "tools/busybox" {
		t.Fatalf("docker search printed %q", out)
	}
	if out := docker.Run(t, "run", "--rm", "--network", "none", h.Addr+"/tools/busybox:1"); strings.TrimSpace(out) != "hello from the hub" {
		t.Fatalf("docker run printed %q", out)
	}
	docker.Run(t, "tag", h.Addr+"/tools/busybox:1", h.Addr+"/copies/bb:2")
	docker.Run(t, "push", h.Addr+"/copies/bb:2")
	docker.Run(t, "rmi", h.Addr+"/tools/busybox:1", h.Addr+"/copies/bb:2")
	docker.Run(t, "pull", h.Addr+"/copies/bb:2")
	out := docker.Run(t, "run", "--rm", "--network", "none", h.Addr+"/copies/bb:2", "/bin/busybox", "echo", "pushed by docker")
	if strings.TrimSpace(out) != "pushed by docker" {
		t.Fatalf("docker run of what docker pushed printed %q", out)
	}
}
