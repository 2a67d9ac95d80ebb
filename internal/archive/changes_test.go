package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/testutil"
)

// lowerTree is the image side of a changes test.
func lowerTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mustApply(t, root,
		dir("etc/"), file("etc/motd", "hello\n"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		dir("opt/"), dir("opt/app/"), file("opt/app/a", "a"), file("opt/app/b", "b"),
		dir("var/"), dir("var/cache/"), file("var/cache/big", strings.Repeat("c", 5000)),
		dir("bin/"), file("bin/tool", "#!tool"), symlink("bin/sh", "tool"), file("keep", "k"))
	return root
}

// mutate makes a container's kind of changes under root.
func mutate(t *testing.T, root string) {
	t.Helper()
	p := func(s string) string { return filepath.Join(root, s) }
	steps := []error{
		os.WriteFile(p("etc/motd"), []byte("changed\n"), 0o644), // edit
		os.MkdirAll(p("srv/data"), 0o755),                       // add a tree
		os.WriteFile(p("srv/data/f"), []byte("new"), 0o600),
		os.Remove(p("etc/passwd")),     // delete a file
		os.RemoveAll(p("var/cache")),   // delete a directory
		os.Chmod(p("bin/tool"), 0o700), // metadata only
		os.Remove(p("bin/sh")),         // retarget a symlink
		os.Symlink("/bin/tool", p("bin/sh")),
		os.Link(p("srv/data/f"), p("srv/data/g")), // a hard link within the layer
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
}

var wantChanges = []string{
	"C /bin", "C /bin/sh", "C /bin/tool", "C /etc", "C /etc/motd", "D /etc/passwd",
	"A /srv", "A /srv/data", "A /srv/data/f", "A /srv/data/g", "C /var", "D /var/cache",
}

// copyTree copies src to a new directory through a layer tar.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteDir(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Apply(context.Background(), dst, &buf); err != nil {
		t.Fatal(err)
	}
	return dst
}

// checkRoundTrip writes changes as a layer from src, applies it on a copy of
// lower, and wants the result to be want.
func checkRoundTrip(t *testing.T, lower, src, want string, changes []Change) []byte {
	t.Helper()
	var layer bytes.Buffer
	if err := WriteChanges(context.Background(), &layer, src, changes); err != nil {
		t.Fatalf("WriteChanges: %v", err)
	}
	b := layer.Bytes()
	if err := Check(bytes.NewReader(b)); err != nil {
		t.Fatalf("the layer of changes does not pass Check: %v", err)
	}
	again := copyTree(t, lower)
	if err := Apply(context.Background(), again, bytes.NewReader(b)); err != nil {
		t.Fatalf("Apply the layer of changes: %v", err)
	}
	if got, exp := testutil.DescribeTree(t, again, true), testutil.DescribeTree(t, want, true); got != exp {
		t.Fatalf("lower + layer of changes:\n%s\nwant:\n%s", got, exp)
	}
	return b
}

func changeLines(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, "\n")
}

func TestTreeChanges(t *testing.T) {
	lower := lowerTree(t)
	upper := copyTree(t, lower)
	if cs, err := TreeChanges(context.Background(), lower, upper); err != nil || len(cs) != 0 {
		t.Fatalf("a copy has changes %v, %v; want none", cs, err)
	}
	mutate(t, upper)
	cs, err := TreeChanges(context.Background(), lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeLines(cs); got != strings.Join(wantChanges, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", got, strings.Join(wantChanges, "\n"))
	}
	checkRoundTrip(t, lower, upper, upper, cs)
}

// overlayMount mounts lower and a new upper at a new directory, or skips.
func overlayMount(t *testing.T, lower string) (merged, upper string) {
	t.Helper()
	testutil.RequireRoot(t)
	base := t.TempDir()
	upper, work, merged := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{upper, work, merged} {
		os.Mkdir(d, 0o755)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("overlayfs does not mount here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	return merged, upper
}

func TestOverlayChanges(t *testing.T) {
	lower := lowerTree(t)
	before := testutil.DescribeTree(t, lower, true)
	merged, upper := overlayMount(t, lower)
	mutate(t, merged)
	// An opaque directory: everything the image had in opt/app goes.
	if err := os.RemoveAll(filepath.Join(merged, "opt/app")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(merged, "opt/app"), 0o755)
	os.WriteFile(filepath.Join(merged, "opt/app/c"), []byte("c"), 0o644)

	cs, err := OverlayChanges(context.Background(), lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{}, wantChanges[:6]...)
	want = append(want, "C /opt", "C /opt/app", "A /opt/app/c")
	want = append(want, wantChanges[6:]...)
	if got := changeLines(cs); got != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	layer := checkRoundTrip(t, lower, upper, merged, cs)
	if !bytes.Contains(layer, []byte("opt/app/"+WhiteoutOpaque)) || !bytes.Contains(layer, []byte("etc/"+WhiteoutPrefix+"passwd")) {
		t.Error("the layer lacks the opaque marker or a whiteout")
	}
	if bytes.Contains(layer, []byte("trusted.overlay")) {
		t.Error("the layer carries overlayfs's own xattrs")
	}
	if after := testutil.DescribeTree(t, lower, true); after != before {
		t.Fatalf("the lower layer changed:\n%s\nwas:\n%s", after, before)
	}
}
