package snapshottest

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/testutil"
)

// layerOf is a layer tar of the headers (and bodies of regular files).
func layerOf(entries ...entry) []byte {
	var b bytes.Buffer
	tw := newTar(&b)
	for _, e := range entries {
		tw.entry(e.hdr, e.body)
	}
	tw.close()
	return b.Bytes()
}

type entry struct {
	hdr  tar.Header
	body string
}

var mtime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func reg(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, body: body}
}

func dirOf(name string, mode int64, uid int) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid, ModTime: mtime}}
}

func link(name, target string, kind byte) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: kind, Linkname: target, Mode: 0o777, ModTime: mtime}}
}

// stackLayers are three layers whose upper ones delete, hide, link to and
// imply directories of the ones below.
func stackLayers() [][]byte {
	return [][]byte{
		layerOf(dirOf("etc/", 0o755, 0), reg("etc/motd", "hello"), reg("etc/gone", "x"),
			dirOf("home/", 0o755, 0), dirOf("home/u/", 0o700, 1000), dirOf("tmp/", 0o1777, 0),
			dirOf("opt/", 0o755, 0), dirOf("opt/old/", 0o750, 0), reg("opt/old/a", "a"),
			dirOf("bin/", 0o755, 0), reg("bin/tool", "#!tool"), link("bin/sh", "tool", tar.TypeSymlink),
			dirOf("var/", 0o755, 0), dirOf("var/cache/", 0o755, 0), reg("var/cache/c", "c")),
		layerOf(reg("etc/.wh.gone", ""), reg("home/u/f", "f"), reg("tmp/x", "x"),
			reg("opt/old/.wh..wh..opq", ""), reg("opt/old/new", "n"),
			dirOf("bin/", 0o755, 0), link("bin/tool2", "bin/tool", tar.TypeLink), reg("var/.wh.cache", "")),
		layerOf(reg("etc/motd", "changed"), reg("tmp/.wh.x", ""), reg(".wh.var", ""), reg("var/new", "v"),
			link("bin/tool3", "bin/tool2", tar.TypeLink)),
	}
}

// chains names the layers' snapshots by their chainIDs.
func chains(layers [][]byte) ([]string, []digest.Digest) {
	diffIDs := make([]digest.Digest, len(layers))
	for i, l := range layers {
		diffIDs[i] = digest.FromBytes(l)
	}
	var names []string
	for _, c := range image.ChainIDs(diffIDs) {
		names = append(names, c.String())
	}
	return names, diffIDs
}

// testStackOutOfOrder unpacks three layers, the top one first, side by side,
// and checks that the stack shows what applying them in order makes.
func testStackOutOfOrder(t *testing.T, sn snapshot.Snapshotter) {
	layers := stackLayers()
	names, diffIDs := chains(layers)
	want := t.TempDir()
	for _, l := range layers {
		must(t, archive.Apply(ctx, want, bytes.NewReader(l)))
	}
	s := snapshot.NewStack(ctx, sn, names)
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Unpack(ctx, i, bytes.NewReader(layers[i]), diffIDs[i])
		}()
		time.Sleep(20 * time.Millisecond) // the upper ones start before the lower ones are there
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	if got, exp := view(t, sn, names[2]), testutil.DescribeTree(t, want, true); got != exp {
		t.Fatalf("the stack unpacked out of order shows:\n%s\nwant what Apply in order makes:\n%s", got, exp)
	}
	if again := snapshot.NewStack(ctx, sn, names); !again.Unpacked(0) || !again.Unpacked(2) {
		t.Error("a new stack of the same layers does not see them unpacked")
	}
}

// testStackHostile: a layer that writes through a symlink its parent
// planted fails, as do the layers on it; nothing outside changes, and the
// layers below stay.
func testStackHostile(t *testing.T, sn snapshot.Snapshotter) {
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	before := testutil.DescribeTree(t, outside, true)
	layers := [][]byte{
		layerOf(link("evil", outside, tar.TypeSymlink), link("rel", "../../../../../../../../..", tar.TypeSymlink)),
		layerOf(reg("evil/secret", "pwned"), reg("evil/new", "pwned"), reg("rel/tmp/pwned", "pwned")),
		layerOf(reg("f", "f")),
	}
	names, diffIDs := chains(layers)
	s := snapshot.NewStack(ctx, sn, names)
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Unpack(ctx, i, bytes.NewReader(layers[i]), diffIDs[i])
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		t.Fatalf("the layer planting symlinks: %v", errs[0])
	}
	if !errors.Is(errs[1], errdefs.ErrInvalidArgument) || !strings.Contains(errs[1].Error(), "symlink") {
		t.Errorf("the layer writing through them: %v; want an invalid-argument error about the symlink", errs[1])
	}
	if errs[2] == nil {
		t.Error("the layer on the refused one was unpacked")
	}
	for i, want := range []bool{true, false, false} {
		if _, err := sn.Stat(ctx, names[i]); (err == nil) != want {
			t.Errorf("layer %d: committed %v, want %v", i, err == nil, want)
		}
	}
	if after := testutil.DescribeTree(t, outside, true); after != before {
		t.Fatalf("the layers changed what is outside:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	n := 0
	must(t, sn.Walk(ctx, func(snapshot.Info) error { n++; return nil }))
	if n != 1 {
		t.Errorf("%d snapshots left, want the planting layer's alone", n)
	}
}

// testStackDiffIDs: a layer whose content is not its diffID is not committed.
func testStackDiffIDs(t *testing.T, sn snapshot.Snapshotter) {
	layers := stackLayers()[:2]
	names, diffIDs := chains(layers)
	s := snapshot.NewStack(ctx, sn, names)
	must(t, s.Unpack(ctx, 0, bytes.NewReader(layers[0]), diffIDs[0]))
	err := s.Unpack(ctx, 1, bytes.NewReader(layers[1]), digest.FromString("not this layer"))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("a layer of the wrong content: %v", err)
	}
	if _, err := sn.Stat(ctx, names[1]); !errdefs.IsNotFound(err) {
		t.Fatalf("a layer of the wrong content was committed: %v", err)
	}
}
