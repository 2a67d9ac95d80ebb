package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/testutil"
)

func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func apply(t *testing.T, root string, entries ...entry) error {
	t.Helper()
	return Apply(context.Background(), root, bytes.NewReader(tarOf(t, entries...)))
}

func mustApply(t *testing.T, root string, entries ...entry) {
	t.Helper()
	if err := apply(t, root, entries...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// hostileCase is a break-out layer, on a lower layer that planted a trap.
type hostileCase struct {
	name    string
	planted []entry // a lower layer applied first
	layer   []entry
	want    string // part of the error; "" means the layer applies
}

// hostileCases are the layers that TestApplyRefusesHostileTars and
// TestApplyOverlayRefusesHostileTars apply.
var hostileCases = []hostileCase{
	{name: "dot-dot name", layer: []entry{file("../outside/secret", "pwned")}, want: "climbs out"},
	{name: "dot-dot deep in the name", layer: []entry{file("a/b/../../../outside/x", "pwned")}, want: "climbs out"},
	{name: "absolute symlink, then a file through it", layer: []entry{symlink("evil", "OUTSIDE"), file("evil/secret", "pwned")}, want: "through the symlink"},
	{name: "relative escaping symlink, then a file through it", layer: []entry{symlink("evil", "../outside"), file("evil/new", "pwned")}, want: "through the symlink"},
	{name: "symlink deep under a directory", layer: []entry{dir("a/"), symlink("a/evil", "../../outside"), file("a/evil/new", "pwned")}, want: "through the symlink"},
	{name: "symlink planted by a lower layer", planted: []entry{symlink("evil", "OUTSIDE")}, layer: []entry{file("evil/secret", "pwned")}, want: "through the symlink"},
	{name: "symlink inside the root is not followed either", layer: []entry{dir("usr/"), dir("usr/lib/"), symlink("lib", "usr/lib"), file("lib/x", "y")}, want: "through the symlink"},
	{name: "symlink loop", layer: []entry{symlink("a", "b"), symlink("b", "a"), file("a/x", "y")}, want: "through the symlink"},
	{name: "directory through a symlink", layer: []entry{symlink("evil", "OUTSIDE"), dir("evil/sub/")}, want: "through the symlink"},
	{name: "hard link out of the root", layer: []entry{hardlink("x", "../outside/secret")}, want: "climbs out"},
	{name: "hard link climbing out deep", layer: []entry{hardlink("x", "a/../../outside/secret")}, want: "climbs out"},
	{name: "hard link through a symlink", layer: []entry{symlink("evil", "OUTSIDE"), hardlink("h", "evil/secret")}, want: "through the symlink"},
	{name: "hard link to an absolute name stays in the root", layer: []entry{hardlink("h", "OUTSIDE/secret")}, want: "does not exist"},
	{name: "hard link to a directory", layer: []entry{dir("d/"), hardlink("h", "d")}, want: "is a directory"},
	{name: "whiteout through a symlink", planted: []entry{symlink("evil", "OUTSIDE")}, layer: []entry{file("evil/.wh.secret", "")}, want: "through the symlink"},
	{name: "opaque marker through a symlink", planted: []entry{symlink("evil", "OUTSIDE")}, layer: []entry{file("evil/.wh..wh..opq", "")}, want: "through the symlink"},
	{name: "whiteout of dot", layer: []entry{file(".wh..", "")}, want: "no valid name"},
	{name: "whiteout of dot-dot", layer: []entry{file("a/.wh...", "")}, want: "no valid name"},
	{name: "file under a file", layer: []entry{file("f", "x"), file("f/x", "y")}, want: "not a directory"},
	{name: "unknown entry type", layer: []entry{{hdr: tar.Header{Name: "x", Typeflag: 'Z'}}}, want: "cannot hold"},
	{name: "root entry that is a file", layer: []entry{file(".", "x")}, want: "not a directory"},
	// Harmless: these replace or remove a planted symlink, never what it points at.
	{name: "file over a planted symlink", planted: []entry{symlink("evil", "OUTSIDE/secret")}, layer: []entry{file("evil", "mine")}},
	{name: "directory over a planted symlink", planted: []entry{symlink("evil", "OUTSIDE")}, layer: []entry{{hdr: tar.Header{Name: "evil/", Typeflag: tar.TypeDir, Mode: 0o700}}}},
	{name: "whiteout of a planted symlink", planted: []entry{symlink("evil", "OUTSIDE/secret")}, layer: []entry{file(".wh.evil", "")}},
	{name: "opaque directory holding a symlink", planted: []entry{dir("d/"), symlink("d/l", "OUTSIDE")}, layer: []entry{dir("d/"), file("d/.wh..wh..opq", "")}},
	{name: "hard link to a planted symlink", planted: []entry{symlink("evil", "OUTSIDE/secret")}, layer: []entry{hardlink("h", "evil")}},
}

// TestApplyRefusesHostileTars applies break-out layers next to a directory
// "outside" and checks that each is refused clearly, or made harmless, and
// that nothing outside the root changed.
func TestApplyRefusesHostileTars(t *testing.T) {
	runHostile(t, func(t *testing.T, base string, c hostileCase, fix func([]entry) []entry) error {
		root := filepath.Join(base, "root")
		if c.planted != nil {
			mustApply(t, root, fix(c.planted)...)
		}
		return apply(t, root, fix(c.layer)...)
	})
}

// runHostile runs applyCase for each hostile case in a directory next to
// "outside" (its path in names and link targets as OUTSIDE), and checks
// what applyCase returns and that nothing outside changed.
func runHostile(t *testing.T, applyCase func(t *testing.T, base string, c hostileCase, fix func([]entry) []entry) error) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
			for _, d := range []string{root, filepath.Join(base, "upper"), outside, filepath.Join(outside, "dir")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
			before := testutil.DescribeTree(t, outside, true)
			fix := func(es []entry) []entry {
				out := append([]entry(nil), es...)
				for i := range out {
					out[i].hdr.Name = strings.ReplaceAll(out[i].hdr.Name, "OUTSIDE", outside)
					out[i].hdr.Linkname = strings.ReplaceAll(out[i].hdr.Linkname, "OUTSIDE", outside)
				}
				return out
			}
			err := applyCase(t, base, c, fix)
			if c.want == "" && err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errdefs.ErrInvalidArgument)) {
				t.Fatalf("Apply = %v; want an invalid-argument error containing %q", err, c.want)
			}
			if after := testutil.DescribeTree(t, outside, true); after != before {
				t.Fatalf("the layer changed what is outside the root:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestApplyTruncated(t *testing.T) {
	full := tarOf(t, dir("bin/"), file("bin/busybox", strings.Repeat("x", 2000)))
	for _, cut := range []int{100, 512 + 700, 1536, len(full) - 1024} { // the last: no end-of-archive marker
		err := Apply(context.Background(), t.TempDir(), bytes.NewReader(full[:cut]))
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Apply of %d of %d bytes = %v; want an invalid-argument error", cut, len(full), err)
		}
	}
	if err := Apply(context.Background(), t.TempDir(), bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "no entries") {
		t.Errorf("Apply of nothing = %v", err)
	}
}

// TestApplyLayers stacks two layers, the second with whiteouts, an opaque
// directory and a hard link to the first, and compares the result with the
// same tree made by hand.
func TestApplyLayers(t *testing.T) {
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	with := func(e entry, f func(h *tar.Header)) entry { f(&e.hdr); return e }
	at := func(e entry) entry { return with(e, func(h *tar.Header) { h.ModTime = mtime }) }
	root := t.TempDir()
	mustApply(t, root,
		at(dir("etc/")), at(file("etc/motd", "hello\n")), at(file("etc/gone", "x")),
		at(dir("opt/")), at(dir("opt/old/")), at(file("opt/old/a", "a")), at(file("opt/b", "b")),
		at(dir("bin/")), at(with(file("bin/tool", "#!tool"), func(h *tar.Header) { h.Mode = 0o755 })),
		at(symlink("bin/sh", "tool")))
	mustApply(t, root,
		at(file("etc/.wh.gone", "")),
		at(dir("opt/")), at(file("opt/.wh..wh..opq", "")), at(file("opt/new", "new")),
		at(hardlink("bin/tool2", "bin/tool")),
		at(with(file("etc/secret", "s"), func(h *tar.Header) {
			h.Mode, h.Uid, h.Gid = 0o4750, 1000, 1001
			h.PAXRecords = map[string]string{"SCHILY.xattr.user.strata": "yes"}
		})),
		at(with(entry{hdr: tar.Header{Name: "run/", Typeflag: tar.TypeDir}}, func(h *tar.Header) { h.Mode = 0o1777 })),
		at(entry{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}}),
		at(symlink("etc/abs", "/etc/motd")))

	want := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "opt", "bin", "run"} {
		must(os.Mkdir(filepath.Join(want, d), 0o755))
	}
	must(os.Chmod(filepath.Join(want, "run"), 0o777|os.ModeSticky))
	must(os.WriteFile(filepath.Join(want, "etc/motd"), []byte("hello\n"), 0o644))
	must(os.WriteFile(filepath.Join(want, "opt/new"), []byte("new"), 0o644))
	must(os.WriteFile(filepath.Join(want, "bin/tool"), []byte("#!tool"), 0o755))
	must(os.Link(filepath.Join(want, "bin/tool"), filepath.Join(want, "bin/tool2")))
	must(os.Symlink("tool", filepath.Join(want, "bin/sh")))
	must(os.Symlink("/etc/motd", filepath.Join(want, "etc/abs")))
	must(os.WriteFile(filepath.Join(want, "etc/secret"), []byte("s"), 0o644))
	must(unix.Setxattr(filepath.Join(want, "etc/secret"), "user.strata", []byte("yes"), 0))
	must(unix.Mkfifo(filepath.Join(want, "run/fifo"), 0o600))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(want, "etc/secret"), 1000, 1001))
	}
	must(os.Chmod(filepath.Join(want, "etc/secret"), 0o750|os.ModeSetuid))
	filepath.Walk(want, func(p string, _ os.FileInfo, _ error) error {
		return unix.Lutimes(p, []unix.Timeval{unix.NsecToTimeval(mtime.UnixNano()), unix.NsecToTimeval(mtime.UnixNano())})
	})
	got, exp := testutil.DescribeTree(t, root, true), testutil.DescribeTree(t, want, true)
	if got != exp {
		t.Fatalf("applied tree:\n%s\nwant:\n%s", got, exp)
	}
	var st unix.Stat_t
	must(unix.Lstat(filepath.Join(root, "opt"), &st))
	if st.Mtim.Sec != mtime.Unix() {
		t.Errorf("opt/ mtime %d, want %d: directory times must be set after their entries", st.Mtim.Sec, mtime.Unix())
	}
	must(unix.Lstat(filepath.Join(root, "bin/tool2"), &st))
	if st.Nlink != 2 {
		t.Errorf("bin/tool2 has %d links, want 2", st.Nlink)
	}
}

func TestApplyDeviceNodes(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	mustApply(t, root, dir("dev/"),
		entry{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}},
		entry{hdr: tar.Header{Name: "dev/loop9", Typeflag: tar.TypeBlock, Devmajor: 7, Devminor: 9, Mode: 0o660, Gid: 6}})
	for name, want := range map[string]string{"dev/null": "char 1:3 666 gid 0", "dev/loop9": "block 7:9 660 gid 6"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
			t.Fatal(err)
		}
		kind := map[uint32]string{unix.S_IFCHR: "char", unix.S_IFBLK: "block"}[st.Mode&unix.S_IFMT]
		got := fmt.Sprintf("%s %d:%d %o gid %d", kind, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Mode&0o777, st.Gid)
		if got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// TestApplyOwnersInSetgidDirectories: a file made in a set-group-ID
// directory starts in the directory's group; the layer's group stands.
func TestApplyOwnersInSetgidDirectories(t *testing.T) {
	testutil.RequireRoot(t)
	owned := func(e entry, mode int64, uid, gid int) entry {
		e.hdr.Mode, e.hdr.Uid, e.hdr.Gid = mode, uid, gid
		return e
	}
	for _, overlay := range []bool{false, true} {
		root := t.TempDir()
		layer := []entry{
			owned(file("d/f1", "1"), 0o644, 0, 0), // d is implicit here, then made set-group-ID
			owned(dir("d/"), 0o2775, 0, 1234),
			owned(file("d/f2", "2"), 0o644, 0, 0),
			owned(file("d/f3", "3"), 0o644, 0, 1234),
			owned(file("d/f4", "4"), 0o644, 1000, 1000),
			owned(file("r1", "r"), 0o644, 0, 0), // the root is the directory at hand
			owned(dir("./"), 0o2775, 0, 1234),
			owned(file("r2", "r"), 0o644, 0, 0),
		}
		var err error
		if overlay {
			_, err = applyOverlay(t, root, "", layer...)
		} else {
			err = apply(t, root, layer...)
		}
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"d/f1": "0:0", "d/f2": "0:0", "d/f3": "0:1234", "d/f4": "1000:1000", "r2": "0:0"} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != want {
				t.Errorf("overlay %v: %s is owned by %s, want %s", overlay, name, got, want)
			}
		}
	}
}

// TestApplyDiskFull: a layer that does not fit on the disk (a 1 MiB tmpfs)
// says the disk is full, with ENOSPC, in both unpacking paths, not that
// the layer is truncated or invalid.
func TestApplyDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	small := t.TempDir()
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount a small tmpfs: %v", err)
	}
	defer unix.Unmount(small, unix.MNT_DETACH)
	layer := tarOf(t, dir("bin/"), file("bin/big", strings.Repeat("x", 3<<20)))
	for name, apply := range map[string]func(string) error{
		"Apply":        func(d string) error { return Apply(context.Background(), d, bytes.NewReader(layer)) },
		"ApplyOverlay": func(d string) error { return ApplyOverlay(context.Background(), d, bytes.NewReader(layer), nil) },
	} {
		d, err := os.MkdirTemp(small, "layer-")
		if err != nil {
			t.Fatal(err)
		}
		err = apply(d)
		if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "the disk is full") || errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s on a full disk: %v; want 'the disk is full' with ENOSPC", name, err)
		}
		os.RemoveAll(d)
	}
}
