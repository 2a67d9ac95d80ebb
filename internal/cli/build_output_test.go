package cli

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// tarNames lists the entries of the tar file at p.
func tarNames(t *testing.T, p string) []string {
	t.Helper()
	var names []string
	testutil.EachTarEntry(t, p, func(hdr *tar.Header, _ []byte) { names = append(names, strings.TrimPrefix(hdr.Name, "./")) })
	return names
}

// TestBuildOutputs: --iidfile, -o type=local|tar|oci|docker, and the flags
// docker's scripts pass that change nothing here (--rm, --force-rm,
// --load); what strata does not do is refused, never ignored.
func TestBuildOutputs(t *testing.T) {
	root := busyboxRoot(t, "")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /out/\n", "hello.txt": "hi\n"})
	dir := t.TempDir()
	iid, local := filepath.Join(dir, "iid"), filepath.Join(dir, "local")
	rootfsTar, ociTar, dockerTar := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "oci.tar"), filepath.Join(dir, "docker.tar")
	mustBuild(t, root, "--rm", "--force-rm", "--load", "-t", "out:1", "--iidfile", iid, "-o", "type=local,dest="+local,
		"-o", "type=tar,dest="+rootfsTar, "-o", "type=oci,dest="+ociTar, "--output", "type=docker,dest="+dockerTar, ctx)
	id, _ := os.ReadFile(iid)
	if want := imageID(t, root, "out:1"); string(id) != want {
		t.Errorf("--iidfile holds %q, want %q", id, want)
	}
	if b, err := os.ReadFile(filepath.Join(local, "out", "hello.txt")); err != nil || string(b) != "hi\n" {
		t.Errorf("type=local: %q, %v", b, err)
	}
	for p, want := range map[string]string{rootfsTar: "out/hello.txt", ociTar: "index.json", dockerTar: "manifest.json"} {
		if names := tarNames(t, p); !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("%s lists %v, want %s", filepath.Base(p), names, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cache-to", "type=gha"}, "strata moves caches with type=registry or type=local"},
		{[]string{"--cache-from", "type=local"}, "type=local needs a directory"},
		{[]string{"--add-host", "db"}, "want HOST:IP"},
		{[]string{"--add-host", "db:host-gateway"}, "want HOST:IP"},
		{[]string{"-o", "type=image"}, "the image is stored anyway"},
		{[]string{"-o", "type=local"}, "name where it goes with dest="},
		{[]string{"--allow", "security.insecure"}, "strata grants network.host only"},
		{[]string{"--secret", "src=/x"}, "an id is needed"},
		{[]string{"--push"}, "--push needs a name"},
		{[]string{"--network", "bridge0"}, "default (an isolated network), none or host"},
	} {
		if _, progress, code := buildOut(t, root, append(tc.args, ctx)...); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%v: exit %d, want %q:\n%s", tc.args, code, tc.want, progress)
		}
	}
}
