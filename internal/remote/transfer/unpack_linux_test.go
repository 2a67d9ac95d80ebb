package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	godigest "github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestPullUnpacksIntoSnapshots(t *testing.T) {
	testutil.RequireRoot(t)
	r := startRegistry(t)
	ctx := context.Background()
	bottom := compress(t, makeTar(t, map[string][]byte{"etc/a": []byte("a"), "etc/gone": []byte("x")}), image.Gzip)
	middle := compress(t, makeTar(t, map[string][]byte{"etc/.wh.gone": nil, "etc/b": []byte("b")}), image.Zstd)
	top := compress(t, makeTar(t, map[string][]byte{"etc/c": randomFile(t, 1<<20)}), image.Uncompressed)
	img := newImage(t, amd64, bottom, middle, top)
	upload(t, r.repo("a/layers"), img, "1")

	for _, name := range []string{"overlay", "native"} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			sn, err := container.OpenSnapshotter(s, name, nil)
			if err != nil {
				t.Skipf("%s snapshotter: %v", name, err)
			}
			var ev events
			opts := PullOptions{Unpacker: SnapshotUnpacker(s, sn), Progress: ev.add}
			if _, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/layers:1")), opts); err != nil {
				t.Fatal(err)
			}
			chains := image.ChainIDs([]godigest.Digest{bottom.diffID, middle.diffID, top.diffID})
			for _, c := range chains {
				if _, err := sn.Stat(ctx, c.String()); err != nil {
					t.Fatalf("snapshot %s: %v", c, err)
				}
			}
			for _, l := range img.layers {
				acts := ev.actions()[ShortID(l.desc.Digest)]
				if n := len(acts); n < 2 || acts[n-2] != Extracting || acts[n-1] != PullComplete {
					t.Errorf("layer %s: events %v, want Extracting then Pull complete last", ShortID(l.desc.Digest), acts)
				}
			}
			mounts, err := sn.View(ctx, "check", chains[2].String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
				for name, want := range map[string]bool{"etc/a": true, "etc/b": true, "etc/c": true, "etc/gone": false} {
					if _, err := os.Lstat(filepath.Join(root, name)); (err == nil) != want {
						t.Errorf("%s: exists %v, want %v", name, err == nil, want)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sn.Remove(ctx, "check")
			// A snapshot removed by hand is made again by the next pull, from
			// the stored blobs, without a download.
			if err := sn.Remove(ctx, chains[2].String()); err != nil {
				t.Fatal(err)
			}
			r.rec.Reset()
			if res, err := Pull(ctx, s, r.client, ref(t, r.ref(t, "a/layers:1")), opts); err != nil || !res.UpToDate {
				t.Fatalf("re-pull = %+v, %v", res, err)
			}
			if _, err := sn.Stat(ctx, chains[2].String()); err != nil {
				t.Errorf("the removed snapshot was not unpacked again: %v", err)
			}
			if gets, _ := r.rec.BlobTransfers(); gets != 0 {
				t.Errorf("re-pull downloaded %d blobs", gets)
			}
		})
	}
}
