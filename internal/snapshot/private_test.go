package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/testutil"
)

// TestTempMountsArePrivate: the temporary mounts that diff, commit, build
// and unpacking make are nosuid and nodev, in a directory that only root
// enters, and a mount anywhere else is refused.
func TestTempMountsArePrivate(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	for _, kind := range []string{"overlay", "native"} {
		t.Run(kind, func(t *testing.T) {
			var sn snapshot.Snapshotter
			var err error
			if kind == "overlay" {
				sn = newOverlay(t)
			} else if sn, err = snapshot.NewNative(t.TempDir()); err != nil {
				t.Fatal(err)
			}
			mounts, err := sn.Prepare(ctx, "active", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			// A device node an image might carry: a copy of /dev/null.
			err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
				return unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
			})
			if err != nil {
				t.Fatal(err)
			}
			var dir string
			err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
				dir = root
				var st unix.Statfs_t
				if err := unix.Statfs(root, &st); err != nil {
					return err
				}
				if st.Flags&unix.ST_NOSUID == 0 || st.Flags&unix.ST_NODEV == 0 {
					t.Errorf("temporary mount %s has flags %#x: want nosuid and nodev", root, st.Flags)
				}
				if f, err := os.OpenFile(filepath.Join(root, "null"), os.O_WRONLY, 0); err == nil {
					f.Close()
					t.Errorf("a device node opened through a temporary mount")
				}
				var parent unix.Stat_t
				if err := unix.Stat(filepath.Dir(root), &parent); err != nil {
					return err
				}
				if parent.Uid != 0 || parent.Mode&0o077 != 0 {
					t.Errorf("temporary mount %s is in a directory of mode %o, owner %d: want 0700, root", root, parent.Mode&0o7777, parent.Uid)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary mount point %s left behind: %v", dir, err)
			}
			open := filepath.Join(t.TempDir(), "open")
			os.Mkdir(open, 0o755)
			target := filepath.Join(open, "m")
			os.Mkdir(target, 0o755)
			if err := snapshot.MountPrivate(mounts, target); !errdefs.IsInvalidArgument(err) {
				snapshot.Unmount(target)
				t.Errorf("MountPrivate in a directory others can enter: %v, want it refused", err)
			}
		})
	}
}
