// Package snapshottest is the conformance suite that every snapshot.Snapshotter
// passes. It needs root (it mounts), and skips without it.
package snapshottest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/testutil"
)

// Run runs the suite against snapshotters made by newSnapshotter, a fresh
// one for each test.
func Run(t *testing.T, newSnapshotter func(t *testing.T) snapshot.Snapshotter) {
	testutil.RequireRoot(t)
	tests := []struct {
		name string
		fn   func(*testing.T, snapshot.Snapshotter)
	}{
		{"CommitAndView", testCommitAndView},
		{"LowerLayerUnchanged", testLowerUnchanged},
		{"TwoActivesShareTheirParent", testTwoActives},
		{"ChangesAndDiff", testChangesAndDiff},
		{"OpaqueDirectoryRoundTrip", testOpaqueRoundTrip},
		{"DeepChain", testDeepChain},
		{"Errors", testErrors},
		{"UsageAndWalk", testUsageAndWalk},
		{"ConcurrentUnpack", testConcurrentUnpack},
		{"StackUnpacksOutOfOrder", testStackOutOfOrder},
		{"StackRefusesAHostileLayer", testStackHostile},
		{"StackChecksDiffIDs", testStackDiffIDs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newSnapshotter(t)) })
	}
}

var ctx = context.Background()

// mounted mounts mounts at a new directory until the test ends.
func mounted(t *testing.T, mounts []snapshot.Mount) string {
	t.Helper()
	dir := t.TempDir()
	if err := snapshot.MountAll(mounts, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshot.Unmount(dir) })
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// base commits "base": a small tree with the kinds of entries images hold.
func base(t *testing.T, sn snapshot.Snapshotter) {
	t.Helper()
	mounts, err := sn.Prepare(ctx, "base-active", "", nil)
	must(t, err)
	root := mounted(t, mounts)
	p := func(s string) string { return filepath.Join(root, s) }
	for _, d := range []string{"bin", "etc", "opt/app", "var/cache"} {
		must(t, os.MkdirAll(p(d), 0o755))
	}
	must(t, os.WriteFile(p("bin/tool"), []byte("#!tool"), 0o755))
	must(t, os.Symlink("tool", p("bin/sh")))
	must(t, os.Link(p("bin/tool"), p("bin/tool2")))
	must(t, os.WriteFile(p("etc/motd"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(p("etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(p("opt/app/a"), []byte("a"), 0o600))
	must(t, os.WriteFile(p("opt/app/b"), []byte("b"), 0o600))
	must(t, os.WriteFile(p("var/cache/big"), bytes.Repeat([]byte("c"), 10000), 0o644))
	must(t, os.Chown(p("opt/app/a"), 1000, 1000))
	must(t, unix.Setxattr(p("etc/motd"), "user.strata", []byte("base"), 0))
	must(t, unix.Mkfifo(p("var/fifo"), 0o600))
	must(t, snapshot.Unmount(root))
	must(t, sn.Commit(ctx, "base", "base-active"))
}

// view describes the committed snapshot name, through a view.
func view(t *testing.T, sn snapshot.Snapshotter, name string) string {
	t.Helper()
	key := "view-of-" + name + "-" + t.Name()
	mounts, err := sn.View(ctx, key, name, nil)
	must(t, err)
	root := mounted(t, mounts)
	desc := testutil.DescribeTree(t, root, true)
	must(t, snapshot.Unmount(root))
	must(t, sn.Remove(ctx, key))
	return desc
}

// mutate makes a container's kind of changes under root.
func mutate(t *testing.T, root string) {
	t.Helper()
	p := func(s string) string { return filepath.Join(root, s) }
	must(t, os.WriteFile(p("etc/motd"), []byte("changed\n"), 0o644))
	must(t, os.MkdirAll(p("srv/data"), 0o755))
	must(t, os.WriteFile(p("srv/data/f"), bytes.Repeat([]byte("x"), 1024), 0o600))
	must(t, os.Remove(p("etc/passwd")))
	must(t, os.RemoveAll(p("var/cache")))
	must(t, os.Chmod(p("opt/app/b"), 0o640))
}

var wantChanges = "C /etc C /etc/motd D /etc/passwd C /opt C /opt/app C /opt/app/b A /srv A /srv/data A /srv/data/f C /var D /var/cache"

func testCommitAndView(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	info, err := sn.Stat(ctx, "base")
	must(t, err)
	if info.Kind != snapshot.KindCommitted || info.Parent != "" {
		t.Fatalf("Stat(base) = %+v", info)
	}
	if _, err := sn.Stat(ctx, "base-active"); !errdefs.IsNotFound(err) {
		t.Fatalf("the active key survives its commit: %v", err)
	}
	mounts, err := sn.View(ctx, "v", "base", nil)
	must(t, err)
	root := mounted(t, mounts)
	desc := testutil.DescribeTree(t, root, true)
	for _, want := range []string{"bin/sh Lrwxrwxrwx 0:0 -> tool", "opt/app/a -rw------- 1000:1000 1", `xattrs[user.strata="base"]`, "var/fifo prw-------"} {
		if !strings.Contains(desc, want) {
			t.Errorf("view of base lacks %q:\n%s", want, desc)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing in a view: %v, want EROFS", err)
	}
}

func testLowerUnchanged(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	before := view(t, sn, "base")
	mounts, err := sn.Prepare(ctx, "c1", "base", nil)
	must(t, err)
	root := mounted(t, mounts)
	mutate(t, root)
	must(t, os.RemoveAll(filepath.Join(root, "opt/app")))
	must(t, os.Mkdir(filepath.Join(root, "opt/app"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "opt/app/c"), []byte("c"), 0o644))
	if after := view(t, sn, "base"); after != before {
		t.Fatalf("the parent changed under an active snapshot:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/motd"))
	if err != nil || string(b) != "changed\n" {
		t.Fatalf("the active snapshot does not hold its change: %q, %v", b, err)
	}
}

func testTwoActives(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	roots := map[string]string{}
	for _, key := range []string{"one", "two"} {
		mounts, err := sn.Prepare(ctx, key, "base", nil)
		must(t, err)
		roots[key] = mounted(t, mounts)
		must(t, os.WriteFile(filepath.Join(roots[key], "mine"), []byte(key), 0o644))
		must(t, os.WriteFile(filepath.Join(roots[key], "etc/motd"), []byte(key), 0o644))
	}
	for key, root := range roots {
		for file, want := range map[string]string{"mine": key, "etc/motd": key, "opt/app/b": "b"} {
			if b, err := os.ReadFile(filepath.Join(root, file)); err != nil || string(b) != want {
				t.Errorf("%s sees %s = %q, %v; want %q", key, file, b, err, want)
			}
		}
		cs, err := snapshot.Changes(ctx, sn, key)
		must(t, err)
		if got := lines(cs); got != "C /etc C /etc/motd A /mine" {
			t.Errorf("%s changes: %s", key, got)
		}
	}
}

func lines(cs []archive.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, " ")
}

// diffAndUnpack commits key's changes as a layer on parent named name, and
// returns the layer.
func diffAndUnpack(t *testing.T, sn snapshot.Snapshotter, key, parent, name string) ([]archive.Change, []byte) {
	t.Helper()
	var layer bytes.Buffer
	cs, err := snapshot.WriteDiff(ctx, sn, key, &layer)
	must(t, err)
	must(t, archive.Check(bytes.NewReader(layer.Bytes())))
	must(t, snapshot.Unpack(ctx, sn, name, parent, bytes.NewReader(layer.Bytes())))
	return cs, layer.Bytes()
}

func testChangesAndDiff(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	mounts, err := sn.Prepare(ctx, "c", "base", nil)
	must(t, err)
	root := mounted(t, mounts)
	mutate(t, root)
	cs, _ := diffAndUnpack(t, sn, "c", "base", "base+c")
	if got := lines(cs); got != wantChanges {
		t.Errorf("changes:\n%s\nwant:\n%s", got, wantChanges)
	}
	if got, want := view(t, sn, "base+c"), testutil.DescribeTree(t, root, true); got != want {
		t.Fatalf("base + the layer of c's changes:\n%s\nwant what c holds:\n%s", got, want)
	}
}

func testOpaqueRoundTrip(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	mounts, err := sn.Prepare(ctx, "c", "base", nil)
	must(t, err)
	root := mounted(t, mounts)
	must(t, os.RemoveAll(filepath.Join(root, "opt/app")))
	must(t, os.Mkdir(filepath.Join(root, "opt/app"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "opt/app/c"), []byte("c"), 0o644))
	_, layer := diffAndUnpack(t, sn, "c", "base", "base+opaque")
	// The layer says the old contents are gone, as a marker or as whiteouts.
	if !bytes.Contains(layer, []byte(archive.WhiteoutOpaque)) && !bytes.Contains(layer, []byte(".wh.a")) {
		t.Error("the layer records no deletion of opt/app's old contents")
	}
	desc := view(t, sn, "base+opaque")
	if strings.Contains(desc, "opt/app/a") || strings.Contains(desc, "opt/app/b") || !strings.Contains(desc, "opt/app/c") {
		t.Fatalf("opt/app after the layer:\n%s", desc)
	}
}

func testDeepChain(t *testing.T, sn snapshot.Snapshotter) {
	parent := ""
	for i := range 6 {
		name := "layer" + string(rune('0'+i))
		var entries bytes.Buffer
		tw := newTar(&entries)
		tw.file("f"+string(rune('0'+i)), name)
		if i > 0 {
			tw.file(".wh.f"+string(rune('0'+i-1)), "")
		}
		tw.close()
		must(t, snapshot.Unpack(ctx, sn, name, parent, &entries))
		parent = name
	}
	desc := view(t, sn, parent)
	if !strings.Contains(desc, "f5 ") || strings.Count(desc, "\n") != 1 {
		t.Fatalf("the top of six layers, each replacing the file of the one below, holds:\n%s", desc)
	}
}

func testErrors(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	_, err := sn.Prepare(ctx, "c", "base", nil)
	must(t, err)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"Stat of a missing key", statErr(sn, "nope"), errdefs.ErrNotFound},
		{"Prepare of a key in use", prepErr(sn, "c", "base"), errdefs.ErrAlreadyExists},
		{"Prepare on a missing parent", prepErr(sn, "d", "nope"), errdefs.ErrNotFound},
		{"Prepare on an active parent", prepErr(sn, "d", "c"), errdefs.ErrInvalidArgument},
		{"Commit to a name in use", sn.Commit(ctx, "base", "c"), errdefs.ErrAlreadyExists},
		{"Commit of a committed snapshot", sn.Commit(ctx, "x", "base"), errdefs.ErrInvalidArgument},
		{"Remove of a parent", sn.Remove(ctx, "base"), errdefs.ErrConflict},
		{"Remove of a missing key", sn.Remove(ctx, "nope"), errdefs.ErrNotFound},
		{"Mounts of a committed snapshot", mountsErr(sn, "base"), errdefs.ErrInvalidArgument},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	must(t, sn.Remove(ctx, "c"))
	must(t, sn.Remove(ctx, "base"))
}

func statErr(sn snapshot.Snapshotter, key string) error { _, err := sn.Stat(ctx, key); return err }
func prepErr(sn snapshot.Snapshotter, key, parent string) error {
	_, err := sn.Prepare(ctx, key, parent, nil)
	return err
}
func mountsErr(sn snapshot.Snapshotter, key string) error { _, err := sn.Mounts(ctx, key); return err }

func testUsageAndWalk(t *testing.T, sn snapshot.Snapshotter) {
	base(t, sn)
	mounts, err := sn.Prepare(ctx, "c", "base", map[string]string{"owner": "test"})
	must(t, err)
	root := mounted(t, mounts)
	must(t, os.WriteFile(filepath.Join(root, "kib"), bytes.Repeat([]byte("k"), 1024), 0o644))
	u, err := sn.Usage(ctx, "c")
	must(t, err)
	if u.Size < 1024 || u.Inodes < 2 {
		t.Errorf("usage of a snapshot holding 1 KiB: %+v", u)
	}
	seen := map[string]snapshot.Info{}
	must(t, sn.Walk(ctx, func(i snapshot.Info) error { seen[i.Name] = i; return nil }))
	if len(seen) != 2 || seen["c"].Parent != "base" || seen["c"].Kind != snapshot.KindActive || seen["c"].Labels["owner"] != "test" {
		t.Errorf("Walk found %+v", seen)
	}
}

func testConcurrentUnpack(t *testing.T, sn snapshot.Snapshotter) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var layer bytes.Buffer
			tw := newTar(&layer)
			tw.file("same", "same")
			tw.close()
			errs[i] = snapshot.Unpack(ctx, sn, "shared", "", &layer)
		}()
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	n := 0
	must(t, sn.Walk(ctx, func(snapshot.Info) error { n++; return nil }))
	if n != 1 {
		t.Fatalf("four unpacks of one layer left %d snapshots, want 1", n)
	}
}
