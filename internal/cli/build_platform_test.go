package cli

import (
	"archive/tar"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/testutil"
)

// TestBuildPlatform: --platform builds on a base for that platform (a
// build with no RUN needs no emulation); a base that lacks it fails
// clearly, as does a RUN for a foreign architecture that binfmt_misc
// cannot run, and --platform a,b, which strata does not build yet.
func TestBuildPlatform(t *testing.T) {
	root := busyboxRoot(t, "")
	_, base := busyboxInRegistry(t, root, "amd64")
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", "--platform", "linux/s390x", rootfs, "box:s390x")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM box:s390x\nCOPY a.txt /\nENV X=1\n", "a.txt": "a"})
	mustBuild(t, root, "--platform", "linux/s390x", "-t", "built:s390x", ctx)
	if got := mustStrata(t, root, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "built:s390x"); got != "linux/s390x\n" {
		t.Errorf("built for %q", got)
	}
	for _, tc := range []struct {
		args       []string
		dockerfile string
		want       string
	}{
		{[]string{"--platform", "linux/arm64"}, "FROM " + base + "\nCOPY a.txt /\n", "is for linux/amd64, not linux/arm64"},
		{[]string{"--platform", "linux/s390x"}, "FROM box:s390x\nRUN true\n", "RUN for linux/s390x on this amd64 machine needs emulation"},
		{[]string{"--platform", "linux/arm64,linux/amd64"}, "FROM busybox:test\n", "the store keeps one platform per tag"},
		{[]string{"--platform", "linux/arm64,linux/amd64", "-o", "type=docker,dest=x.tar"}, "FROM busybox:test\n", "only type=oci holds"},
		{nil, "FROM --platform=linux/arm64 " + base + "\n", "is for linux/amd64, not linux/arm64"},
	} {
		files := map[string]string{"Dockerfile": tc.dockerfile, "a.txt": "a"}
		if _, progress, code := buildOut(t, root, append(tc.args, writeContext(t, files))...); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%v %q: exit %d, want %q:\n%s", tc.args, tc.dockerfile, code, tc.want, progress)
		}
	}
	// Without --platform, a base for another platform is a warning, as in BuildKit.
	progress := mustBuild(t, root, writeContext(t, map[string]string{"Dockerfile": "FROM box:s390x\nENV X=1\n"}))
	if !strings.Contains(progress, "WARNING: FROM box:s390x: the image is for linux/s390x, not linux/amd64") {
		t.Errorf("no warning for a base of another platform:\n%s", progress)
	}
}

// TestBuildMultiPlatform: --platform a,b builds each platform and makes
// one index of them, written as an OCI layout and pushed; a client pulling
// one platform from the registry gets that platform's image.
func TestBuildMultiPlatform(t *testing.T) {
	root := busyboxRoot(t, "")
	reg := testutil.StartDistribution(t, "")
	ctx := writeContext(t, map[string]string{"a.txt": "a", "Dockerfile": "FROM scratch\nARG TARGETPLATFORM\nCOPY a.txt /\nLABEL p=$TARGETPLATFORM\n"})
	layout := filepath.Join(t.TempDir(), "multi.tar")
	ref := reg.Addr + "/team/multi:1"
	mustBuild(t, root, "--platform", "linux/amd64,linux/s390x", "-o", "type=oci,dest="+layout, "--push", "-t", ref, ctx)
	var idx ocispec.Index
	testutil.EachTarEntry(t, layout, func(hdr *tar.Header, body []byte) {
		if strings.HasPrefix(hdr.Name, "blobs/") && strings.Contains(string(body), `"platform"`) {
			json.Unmarshal(body, &idx)
		}
	})
	if len(idx.Manifests) != 2 || idx.Manifests[1].Platform.Architecture != "s390x" {
		t.Errorf("the layout's index lists %+v", idx.Manifests)
	}
	img := testutil.ReadOCIArchive(t, layout) // the first platform's
	if _, ok := img.Files["/a.txt"]; !ok || !strings.Contains(string(img.Config), `"p":"linux/amd64"`) {
		t.Errorf("the layout's first image: %v, config %s", img.Files, img.Config)
	}
	for _, p := range []string{"linux/s390x", "linux/amd64"} {
		fresh := t.TempDir()
		mustStrata(t, fresh, "pull", "-q", "--platform", p, ref)
		if got := mustStrata(t, fresh, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Config.Labels.p}}", ref); got != p+" "+p+"\n" {
			t.Errorf("pull --platform %s: %q", p, got)
		}
	}
}
