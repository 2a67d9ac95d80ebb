package snapshot_test

import (
	"testing"

	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/snapshot/snapshottest"
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
