package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/testutil"
)

// What the container of the round trip does: an edit, an addition, a
// deleted file, a deleted directory, and a directory replaced whole (an
// opaque directory on overlayfs); and what the committed image then shows.
const (
	roundTripChanges = `echo changed > /etc/passwd; echo new > /new; rm /bin/ls; rm -rf /root; ` +
		`rm -rf /home && mkdir -p /home/fresh && echo f > /home/fresh/f`
	roundTripCheck = `cat /etc/passwd /new /home/fresh/f; ls -A /home; test -e /bin/ls || echo no-ls; test -e /root || echo no-root`
	roundTripWant  = "changed\nnew\nf\nfresh\nno-ls\nno-root\n"
)

// emptyRoot is a new store root using the snapshotter name.
func emptyRoot(t *testing.T, name string) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "snapshots"), 0o700)
	os.WriteFile(filepath.Join(root, "snapshots", "driver"), []byte(name+"\n"), 0o644)
	return root
}

// TestCommittedImageRoundTrips commits a container's changes and checks
// that the image shows them when run again here, after save and load into
// another store, after push and pull through the reference registry, and in
// docker after docker load: deletions and the replaced directory included.
func TestCommittedImageRoundTrips(t *testing.T) {
	for _, sn := range []string{"overlay", "native"} {
		t.Run(sn, func(t *testing.T) {
			if sn == "overlay" {
				if err := snapshot.OverlaySupported(t.TempDir()); err != nil {
					t.Skipf("overlayfs does not work here: %v", err)
				}
			}
			root := busyboxRoot(t, sn)
			mustStrata(t, root, "run", "--name", "ct", "busybox:test", "sh", "-c", roundTripChanges)
			diff := mustStrata(t, root, "diff", "ct")
			for _, want := range []string{"C /etc/passwd\n", "A /new\n", "D /bin/ls\n", "D /root\n", "A /home/fresh/f\n"} {
				if !strings.Contains(diff, want) {
					t.Errorf("diff lacks %q:\n%s", want, diff)
				}
			}
			mustStrata(t, root, "commit", "-m", "round trip", "-c", `CMD ["sh", "-c", "`+roundTripCheck+`"]`, "ct", "committed:1")
			check := func(where, got string) {
				t.Helper()
				if got != roundTripWant {
					t.Errorf("%s: the committed image shows %q, want %q", where, got, roundTripWant)
				}
			}
			check("run here", mustStrata(t, root, "run", "--rm", "committed:1"))

			saved := filepath.Join(t.TempDir(), "committed.tar")
			mustStrata(t, root, "save", "-o", saved, "committed:1")
			loaded := emptyRoot(t, sn)
			mustStrata(t, loaded, "load", "-i", saved)
			check("after save and load", mustStrata(t, loaded, "run", "--rm", "committed:1"))

			reg := testutil.StartDistribution(t, "")
			ref := reg.Addr + "/test/committed:1"
			mustStrata(t, root, "tag", "committed:1", ref)
			mustStrata(t, root, "push", ref)
			pulled := emptyRoot(t, sn)
			check("after push and pull", mustStrata(t, pulled, "run", "--rm", ref))

			d := testutil.StartDocker(t)
			d.Run(t, "load", "-i", saved)
			check("in docker", d.Run(t, "run", "--rm", "--network", "none", "committed:1"))
		})
	}
}
