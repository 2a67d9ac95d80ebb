package cli

import (
	"strings"
	"testing"

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
		{[]string{"--platform", "linux/arm64,linux/amd64"}, "FROM busybox:test\n", "strata builds one platform at a time"},
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
