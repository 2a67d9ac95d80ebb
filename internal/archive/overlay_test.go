package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/testutil"
)

// applyOverlay applies entries with ApplyOverlay into upper over lower (""
// for none), and says whether it asked for the layers below.
func applyOverlay(t *testing.T, upper, lower string, entries ...entry) (asked bool, err error) {
	t.Helper()
	below := func() (string, error) { asked = true; return lower, nil }
	err = ApplyOverlay(context.Background(), upper, bytes.NewReader(tarOf(t, entries...)), below)
	return asked, err
}

// overlayView mounts upper over lower read-only, as a snapshot of the two
// layers is mounted, until the test ends.
func overlayView(t *testing.T, upper, lower string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("overlay", dir, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower); err != nil {
		t.Fatalf("mount overlay of %s over %s: %v\n%s", upper, lower, err, testutil.DescribeTree(t, upper, false))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// TestApplyOverlayRefusesHostileTars: in overlay form, with the planted
// layer below (not in the same directory), every hostile layer is refused
// as Apply refuses it, or made as harmless, and nothing outside changes.
func TestApplyOverlayRefusesHostileTars(t *testing.T) {
	testutil.RequireRoot(t)
	runHostile(t, func(t *testing.T, base string, c hostileCase, fix func([]entry) []entry) error {
		lower, upper := filepath.Join(base, "root"), filepath.Join(base, "upper")
		if c.planted != nil {
			mustApply(t, lower, fix(c.planted)...)
		}
		_, err := applyOverlay(t, upper, lower, fix(c.layer)...)
		return err
	})
}

// TestApplyOverlayMatchesApply applies a second layer in overlay form over a
// first, and checks that the two mounted as overlayfs layers show what Apply
// of both into one directory makes.
func TestApplyOverlayMatchesApply(t *testing.T) {
	testutil.RequireRoot(t)
	owned := func(e entry, mode int64, uid int) entry {
		e.hdr.Mode, e.hdr.Uid, e.hdr.Gid = mode, uid, uid
		return e
	}
	withXattr := func(e entry) entry {
		e.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.strata": "below"}
		return e
	}
	cases := []struct {
		name         string
		lower, layer []entry
		needsBelow   bool // the layer cannot be written without knowing what is below
	}{
		{name: "a layer of its own", lower: []entry{dir("etc/"), file("etc/a", "a")},
			layer: []entry{dir("opt/"), file("opt/x", "x"), symlink("opt/l", "x"), hardlink("opt/h", "opt/x"), dir("etc/"), file("etc/b", "b")}},
		{name: "implicit directories keep what they have below", needsBelow: true,
			lower: []entry{owned(dir("tmp/"), 0o1777, 0), dir("home/"), withXattr(owned(dir("home/u/"), 0o700, 1000))},
			layer: []entry{file("tmp/x", "x"), file("home/u/f", "f"), file("new/deep/g", "g")}},
		{name: "whiteout in a directory the layer lacks", needsBelow: true,
			lower: []entry{dir("etc/"), file("etc/gone", "x"), file("etc/keep", "k")},
			layer: []entry{file("etc/.wh.gone", "")}},
		{name: "whiteouts of nothing below", needsBelow: true,
			lower: []entry{dir("etc/")},
			layer: []entry{file("nope/deeper/.wh.x", ""), file("etc/.wh.missing", ""), file(".wh.absent", "")}},
		{name: "whiteout of a directory", needsBelow: true,
			lower: []entry{dir("var/"), dir("var/cache/"), dir("var/cache/x/"), file("var/cache/x/y", "y"), file("var/log", "l")},
			layer: []entry{file("var/.wh.cache", "")}},
		{name: "opaque directory without an entry", needsBelow: true,
			lower: []entry{dir("opt/"), owned(dir("opt/old/"), 0o750, 7), file("opt/old/a", "a")},
			layer: []entry{file("opt/old/.wh..wh..opq", ""), file("opt/old/new", "n")}},
		{name: "opaque directory with its entry",
			lower: []entry{dir("opt/"), file("opt/a", "a"), dir("opt/sub/"), file("opt/sub/b", "b")},
			layer: []entry{dir("opt/"), file("opt/.wh..wh..opq", ""), file("opt/c", "c")}},
		{name: "deleted then made anew",
			lower: []entry{dir("d/"), file("d/a", "a")},
			layer: []entry{file(".wh.d", ""), file("d/new", "n")}},
		{name: "deleted in a directory the layer lacks then made anew", needsBelow: true,
			lower: []entry{dir("a/"), dir("a/d/"), file("a/d/x", "x")},
			layer: []entry{file("a/.wh.d", ""), file("a/d/y", "y")}},
		{name: "hard link to a file below", needsBelow: true,
			lower: []entry{dir("bin/"), owned(file("bin/tool", "#!tool"), 0o755, 2)},
			layer: []entry{dir("bin/"), hardlink("bin/tool2", "bin/tool")}},
		{name: "hard link to a file below in a directory the layer lacks", needsBelow: true,
			lower: []entry{dir("usr/"), dir("usr/lib/"), file("usr/lib/libc", "elf")},
			layer: []entry{hardlink("lib2", "usr/lib/libc")}},
		{name: "a directory and a file trade places",
			lower: []entry{dir("a/"), file("a/x", "x"), file("f", "f")},
			layer: []entry{file("a", "now a file"), dir("f/"), file("f/y", "y")}},
		{name: "a directory entry merges with the one below",
			lower: []entry{dir("etc/"), file("etc/passwd", "root")},
			layer: []entry{owned(dir("etc/"), 0o700, 0), file("etc/hosts", "h")}},
		{name: "a directory over a symlink below", needsBelow: true,
			lower: []entry{symlink("a", "elsewhere"), dir("elsewhere/")},
			layer: []entry{dir("a/"), file("a/b/f", "f")}},
		{name: "deleted then made a file again",
			lower: []entry{file("f", "old")}, layer: []entry{file(".wh.f", ""), file("f", "new"), file("g", "g"), file(".wh.g", "")}},
		{name: "the layer's root", lower: []entry{file("a", "a")}, layer: []entry{owned(dir("./"), 0o750, 3)}},
		{name: "a device node", lower: []entry{dir("dev/")},
			layer: []entry{dir("dev/"), {hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := t.TempDir()
			mustApply(t, want, c.lower...)
			mustApply(t, want, c.layer...)
			lower, upper := t.TempDir(), t.TempDir()
			mustApply(t, lower, c.lower...)
			asked, err := applyOverlay(t, upper, lower, c.layer...)
			if err != nil {
				t.Fatalf("ApplyOverlay: %v", err)
			}
			if asked != c.needsBelow {
				t.Errorf("asked for the layers below: %v, want %v", asked, c.needsBelow)
			}
			got, exp := testutil.DescribeTree(t, overlayView(t, upper, lower), true), testutil.DescribeTree(t, want, true)
			if got != exp {
				t.Fatalf("the layers mounted show:\n%s\nwant what Apply makes:\n%s", got, exp)
			}
		})
	}
}

// TestApplyOverlayForm checks how the layer is written: deletions as 0/0
// character devices, opaque directories by their xattr, nothing else added.
func TestApplyOverlayForm(t *testing.T) {
	testutil.RequireRoot(t)
	upper := t.TempDir()
	asked, err := applyOverlay(t, upper, "", dir("etc/"), file("etc/.wh.gone", ""), dir("opt/"), file("opt/.wh..wh..opq", ""),
		file("opt/new", "n"), file("lone/.wh.x", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !asked {
		t.Error("a whiteout in a directory the layer lacks did not ask what is below")
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone is not a whiteout device: %v, mode %o, rdev %d", err, st.Mode, st.Rdev)
	}
	if ok, err := isOpaque(filepath.Join(upper, "opt")); !ok || err != nil {
		t.Errorf("opt is not marked opaque: %v", err)
	}
	if ok, _ := isOpaque(filepath.Join(upper, "etc")); ok {
		t.Error("etc is marked opaque")
	}
	if _, err := os.Lstat(filepath.Join(upper, "lone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a whiteout with nothing below made its directory: %v", err)
	}
	desc := testutil.DescribeTree(t, upper, false)
	if strings.Contains(desc, ".wh.") {
		t.Errorf("whiteout files were written as files:\n%s", desc)
	}
}
