package snapshot_test

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

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/snapshot/snapshottest"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestOverlay(t *testing.T) {
	snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter { return newOverlay(t) })
}

func TestNative(t *testing.T) {
	snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter {
		sn, err := snapshot.NewNative(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return sn
	})
}

// TestOverlayManyLayers stacks more layers than one page of mount options
// can name, which the new mount API's "lowerdir+" mounts.
func TestOverlayManyLayers(t *testing.T) {
	sn := newOverlay(t)
	ctx := context.Background()
	parent := ""
	const layers = 120
	for i := range layers {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		name := fmt.Sprintf("f%03d", i)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(name))})
		tw.Write([]byte(name))
		tw.Close()
		if err := snapshot.Unpack(ctx, sn, name, parent, &b); err != nil {
			t.Fatal(err)
		}
		parent = name
	}
	mounts, err := sn.Prepare(ctx, "top", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(mounts[0].Options, ",")); n <= 4095 {
		t.Fatalf("the options of %d layers take only %d bytes; the test wants more than a page", layers, n)
	}
	err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
		entries, err := os.ReadDir(root)
		if err == nil && len(entries) != layers {
			err = fmt.Errorf("the mount shows %d files, want %d", len(entries), layers)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnpackLayerChecksTheDiffID: a layer whose content is not its diffID
// leaves no snapshot.
func TestUnpackLayerChecksTheDiffID(t *testing.T) {
	testutil.RequireRoot(t)
	sn, err := snapshot.NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	layer := b.Bytes()
	wrong := digest.FromString("something else")
	err = snapshot.UnpackLayer(context.Background(), sn, "layer", "", bytes.NewReader(layer), wrong)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("UnpackLayer with the wrong diffID: %v", err)
	}
	n := 0
	sn.Walk(context.Background(), func(snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("a layer of the wrong content left %d snapshots", n)
	}
	if err := snapshot.UnpackLayer(context.Background(), sn, "layer", "", bytes.NewReader(layer), digest.FromBytes(layer)); err != nil {
		t.Fatal(err)
	}
}

func newOverlay(t *testing.T) snapshot.LayerSnapshotter {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := snapshot.OverlaySupported(dir); err != nil {
		t.Skipf("overlayfs does not work here: %v", err)
	}
	sn, err := snapshot.NewOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func tarOf(t *testing.T, hdrs ...tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		body := strings.Repeat("x", int(h.Size))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return b.Bytes()
}

// TestOverlayLayerBeforeItsParent writes a layer into a snapshot of its own
// while its parent does not exist yet, in overlay form, and commits it onto
// the parent once that is there.
func TestOverlayLayerBeforeItsParent(t *testing.T) {
	sn := newOverlay(t)
	ctx := context.Background()
	dir, err := sn.PrepareLayer(ctx, "top-unpacking")
	if err != nil {
		t.Fatal(err)
	}
	top := tarOf(t, tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "etc/.wh.gone", Typeflag: tar.TypeReg},
		tar.Header{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "opt/.wh..wh..opq", Typeflag: tar.TypeReg},
		tar.Header{Name: "opt/new", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	below := func() (string, error) { t.Error("a layer that needs nothing below asked for it"); return "", nil }
	if err := archive.ApplyOverlay(ctx, dir, bytes.NewReader(top), below); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("the deletion is not a whiteout device: %v", err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "opt"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opt/ is not marked opaque: %v", err)
	}
	base := tarOf(t, tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "etc/gone", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		tar.Header{Name: "etc/kept", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		tar.Header{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "opt/old", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	if err := snapshot.Unpack(ctx, sn, "base", "", bytes.NewReader(base)); err != nil {
		t.Fatal(err)
	}
	if err := sn.CommitOnto(ctx, "top", "top-unpacking", "base"); err != nil {
		t.Fatal(err)
	}
	if info, err := sn.Stat(ctx, "top"); err != nil || info.Parent != "base" || info.Kind != snapshot.KindCommitted {
		t.Fatalf("Stat(top) = %+v, %v", info, err)
	}
	mounts, err := sn.View(ctx, "v", "top", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
		desc := testutil.DescribeTree(t, root, false)
		for name, want := range map[string]bool{"etc/kept ": true, "etc/gone ": false, "opt/old ": false, "opt/new ": true} {
			if strings.Contains(desc, name) != want {
				t.Errorf("%q shown: %v, want %v:\n%s", name, !want, want, desc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOverlayCommitOntoErrors(t *testing.T) {
	sn := newOverlay(t)
	ctx := context.Background()
	if err := snapshot.Unpack(ctx, sn, "base", "", bytes.NewReader(tarOf(t, tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644}))); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "on-base", "base", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.PrepareLayer(ctx, "layer"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"onto a missing parent", sn.CommitOnto(ctx, "x", "layer", "nope"), errdefs.ErrNotFound},
		{"onto an active parent", sn.CommitOnto(ctx, "x", "layer", "on-base"), errdefs.ErrInvalidArgument},
		{"of a committed snapshot", sn.CommitOnto(ctx, "x", "base", ""), errdefs.ErrInvalidArgument},
		{"to a name in use", sn.CommitOnto(ctx, "base", "layer", ""), errdefs.ErrAlreadyExists},
		{"of a missing key", sn.CommitOnto(ctx, "x", "nope", "base"), errdefs.ErrNotFound},
		{"a key in use", prepareLayerErr(sn, "layer"), errdefs.ErrAlreadyExists},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("CommitOnto %s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := sn.CommitOnto(ctx, "x", "layer", "base"); err != nil {
		t.Fatalf("after the errors, CommitOnto: %v", err)
	}
}

func prepareLayerErr(sn snapshot.LayerSnapshotter, key string) error {
	_, err := sn.PrepareLayer(context.Background(), key)
	return err
}

// TestSnapshotsAreTopDirectories: ext4 is told that snapshots are unrelated
// trees (chattr +T on ids/), where the file system keeps that flag.
func TestSnapshotsAreTopDirectories(t *testing.T) {
	dir := t.TempDir()
	if _, err := snapshot.NewNative(dir); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(filepath.Join(dir, "ids"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("this file system keeps no inode flags: %v", err)
	}
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) == nil && fs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("not ext4 (magic %#x): the flag is ext4's", fs.Type)
	}
	if flags&0x00020000 == 0 {
		t.Errorf("ids/ has flags %#x, without FS_TOPDIR_FL", flags)
	}
}

// TestOverlayVolatile: a snapshot labelled volatile mounts with overlayfs's
// "volatile" (no sync of the file system on unmount), mounts again after
// that (overlayfs refuses a volatile upper it finds mounted before), keeps
// what was written through each mount, and commits as it is onto another
// parent.
func TestOverlayVolatile(t *testing.T) {
	sn := newOverlay(t)
	ctx := context.Background()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "base", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	if err := snapshot.Unpack(ctx, sn, "base", "", &b); err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.Prepare(ctx, "step", "base", map[string]string{snapshot.LabelVolatile: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || !strings.Contains(strings.Join(mounts[0].Options, ","), "volatile") {
		t.Fatalf("mounts of a volatile snapshot: %+v, want an overlay with volatile", mounts)
	}
	for _, name := range []string{"one", "two"} {
		err := snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
			if name == "two" {
				if _, err := os.Stat(filepath.Join(root, "one")); err != nil {
					return fmt.Errorf("what the first mount wrote: %w", err)
				}
			}
			return os.WriteFile(filepath.Join(root, name), []byte(name), 0o644)
		})
		if err != nil {
			t.Fatalf("mount %s: %v", name, err)
		}
	}
	cs, err := snapshot.Changes(ctx, sn, "step")
	if err != nil || len(cs) != 2 {
		t.Fatalf("changes: %v, %v; want the two files", cs, err)
	}
	// Its files are the layer of its changes: committed as they are onto
	// another parent, they sit on that one.
	b.Reset()
	tw = tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "other", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	if err := snapshot.Unpack(ctx, sn, "other", "", &b); err != nil {
		t.Fatal(err)
	}
	if err := sn.(snapshot.LayerSnapshotter).CommitOnto(ctx, "stepped", "step", "other"); err != nil {
		t.Fatal(err)
	}
	if info, err := sn.Stat(ctx, "stepped"); err != nil || info.Parent != "other" || info.Labels[snapshot.LabelVolatile] != "" {
		t.Fatalf("the committed step: %+v, %v; want it on other, not volatile", info, err)
	}
	vm, err := sn.View(ctx, "look", "stepped", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snapshot.WithTempMount(ctx, sn, vm, func(root string) error {
		var names []string
		entries, err := os.ReadDir(root)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if err == nil && strings.Join(names, " ") != "one other two" {
			err = fmt.Errorf("the committed step shows %v, want one, other and two", names)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteLayerFromTheUpper: the layer of a snapshot written through its
// mounted overlay, read from its upper directory alone (WriteLayer), is the
// layer WriteDiff makes with a view of its parent: additions, changes,
// deletions, a directory deleted and made again (opaque), under one that
// is only copied up, and a new tree.
func TestWriteLayerFromTheUpper(t *testing.T) {
	sn := newOverlay(t)
	ctx := context.Background()
	dir := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755} }
	file := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: 3} }
	base := tarOf(t, dir("usr/"), dir("usr/share/"), dir("usr/share/doc/"), file("usr/share/doc/a"), file("usr/share/doc/b"),
		dir("etc/"), file("etc/keep"), file("etc/change"), file("etc/gone"), dir("var/"), dir("var/old/"), file("var/old/f"))
	if err := snapshot.Unpack(ctx, sn, "base", "", bytes.NewReader(base)); err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.Prepare(ctx, "step", "base", map[string]string{snapshot.LabelVolatile: "1"})
	if err != nil {
		t.Fatal(err)
	}
	err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
		p := func(n string) string { return filepath.Join(root, n) }
		return errors.Join(
			os.RemoveAll(p("usr/share/doc")), os.Mkdir(p("usr/share/doc"), 0o755), os.WriteFile(p("usr/share/doc/new"), []byte("n"), 0o644),
			os.WriteFile(p("etc/change"), []byte("changed"), 0o644), os.Remove(p("etc/gone")), os.WriteFile(p("etc/added"), []byte("a"), 0o644),
			os.RemoveAll(p("var/old")), os.MkdirAll(p("opt/tool/bin"), 0o755), os.WriteFile(p("opt/tool/bin/t"), []byte("t"), 0o755))
	})
	if err != nil {
		t.Fatal(err)
	}
	var viewed, upper bytes.Buffer
	if _, err := snapshot.WriteDiff(ctx, sn, "step", &viewed); err != nil {
		t.Fatal(err)
	}
	cs, err := snapshot.WriteLayer(ctx, sn, "step", &upper)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(viewed.Bytes(), upper.Bytes()) {
		t.Fatalf("the layer from the upper directory (%v) is not the one WriteDiff makes", cs)
	}
	var opaque bool
	tr := tar.NewReader(&upper)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		opaque = opaque || h.Name == "usr/share/doc/.wh..wh..opq"
	}
	if !opaque {
		t.Fatal("the directory deleted and made again is not opaque in the layer")
	}
}
