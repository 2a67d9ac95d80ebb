package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/snapshot/snapshottest"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestOverlay(t *testing.T) {
	snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter {
		dir := t.TempDir()
		if err := snapshot.OverlaySupported(dir); err != nil {
			t.Skipf("overlayfs does not work here: %v", err)
		}
		sn, err := snapshot.NewOverlay(dir)
		if err != nil {
			t.Fatal(err)
		}
		return sn
	})
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
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := snapshot.OverlaySupported(dir); err != nil {
		t.Skipf("overlayfs does not work here: %v", err)
	}
	sn, err := snapshot.NewOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
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
	err = snapshot.WithTempMount(ctx, mounts, func(root string) error {
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
