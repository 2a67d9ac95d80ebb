package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// maxMountOptions is what one mount(2) call takes as options: one page.
const maxMountOptions = 4095

// mountFlags are the options that are mount(2) flags rather than a file
// system's own data.
var mountFlags = map[string]uintptr{"nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC}

// Mount mounts m at target.
func (m Mount) Mount(target string) error {
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	switch m.Type {
	case "bind":
		return bindMount(m.Source, target, flags, data)
	case "overlay":
		err := mountOverlay(data, flags, target)
		if errors.Is(err, unix.EINVAL) && slices.Contains(data, "volatile") { // before Linux 5.10
			err = mountOverlay(slices.DeleteFunc(slices.Clone(data), func(o string) bool { return o == "volatile" }), flags, target)
		}
		return err
	}
	return fmt.Errorf("mount type %q is not one strata makes", m.Type)
}

func mountOverlay(data []string, flags uintptr, target string) error {
	if slices.Contains(data, "volatile") {
		// overlayfs leaves work/incompat/volatile in the work directory of
		// a volatile mount, and refuses to mount it again while it is
		// there, lest a crash have left the upper directory half written;
		// a volatile snapshot is mounted again only by the build step it
		// belongs to, while it runs; one that a crash leaves is only ever
		// removed.
		for _, o := range data {
			if w, ok := strings.CutPrefix(o, "workdir="); ok {
				os.RemoveAll(filepath.Join(w, "work", "incompat"))
			}
		}
	}
	opts := strings.Join(data, ",")
	if len(opts) > maxMountOptions {
		return mountOverlayLong(data, flags, target)
	}
	if err := unix.Mount("overlay", target, "overlay", flags, opts); err != nil {
		return fmt.Errorf("mount overlay at %s (%s): %w", target, opts, err)
	}
	return nil
}

// bindMount bind-mounts source at target; flags and "ro" take a remount,
// the only way a bind mount gets them.
func bindMount(source, target string, flags uintptr, opts []string) error {
	bind := uintptr(unix.MS_BIND)
	for _, o := range opts {
		switch o {
		case "rbind":
			bind |= unix.MS_REC
		case "ro":
			flags |= unix.MS_RDONLY
		}
	}
	if err := unix.Mount(source, target, "", bind, ""); err != nil {
		return fmt.Errorf("bind mount %s at %s: %w", source, target, err)
	}
	if flags != 0 {
		if err := unix.Mount("", target, "", bind|unix.MS_REMOUNT|flags, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only, nosuid or nodev: %w", target, err)
		}
	}
	return nil
}

// mountOverlayLong mounts an overlay whose options do not fit in a page,
// with the new mount API: one "lowerdir+" per layer (Linux 6.8 and later).
func mountOverlayLong(options []string, flags uintptr, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlay of %d layers needs the new mount API (Linux 6.8+): %w", len(options), err)
	}
	defer unix.Close(fd)
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		if k == "lowerdir" {
			for _, dir := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fd, "lowerdir+", dir); err != nil {
					return fmt.Errorf("overlay of many layers needs Linux 6.8 or later (lowerdir+): %w", err)
				}
			}
			continue
		}
		set := func() error { return unix.FsconfigSetString(fd, k, v) }
		if !strings.Contains(o, "=") {
			set = func() error { return unix.FsconfigSetFlag(fd, k) }
		}
		if err := set(); err != nil {
			return fmt.Errorf("overlay option %s: %w", k, err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	var attrs int
	for f, attr := range map[uintptr]int{unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID, unix.MS_NODEV: unix.MOUNT_ATTR_NODEV,
		unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC} {
		if flags&f != 0 {
			attrs |= attr
		}
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// MountAll mounts each of mounts at target, in order: a container's root
// file system, which runc then makes the container's "/" (setuid programs
// and devices work there, as in any container). target must be in a
// directory only root enters (see MountPrivate).
func MountAll(mounts []Mount, target string) error {
	if err := checkPrivate(filepath.Dir(target)); err != nil {
		return err
	}
	return mountAll(mounts, target)
}

// MountPrivate mounts each of mounts at target, nosuid and nodev, in a
// directory only root enters: the one way strata mounts a snapshot for
// itself or a user to read or write (image mount, diff, commit, export,
// build, unpacking). A setuid program or a device node in an image is then
// inert there, and no other local user can reach the files to try.
func MountPrivate(mounts []Mount, target string) error {
	if err := checkPrivate(filepath.Dir(target)); err != nil {
		return err
	}
	safe := make([]Mount, len(mounts))
	for i, m := range mounts {
		m.Options = append(append([]string{}, m.Options...), "nosuid", "nodev")
		safe[i] = m
	}
	return mountAll(safe, target)
}

// checkPrivate refuses a directory that someone other than its owner, the
// user strata runs as, can enter, read or write.
func checkPrivate(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("mount in %s: %w", dir, err)
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&0o077 != 0 {
		return fmt.Errorf("refusing to mount in %s: it is mode %o, owner %d; strata mounts only where no other user can enter (mode 0700, its own): %w",
			dir, st.Mode&0o7777, st.Uid, errdefs.ErrInvalidArgument)
	}
	return nil
}

func mountAll(mounts []Mount, target string) error {
	for i, m := range mounts {
		if err := m.Mount(target); err != nil {
			for ; i > 0; i-- {
				Unmount(target)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts target, waiting a little for a busy mount to be let go
// before detaching it.
func Unmount(target string) error {
	for i := 0; ; i++ {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
			return nil // unmounted, or not a mount point
		case errors.Is(err, unix.EBUSY) && i < 20:
			time.Sleep(10 * time.Millisecond)
		case errors.Is(err, unix.EBUSY):
			return unix.Unmount(target, unix.MNT_DETACH)
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// TempDir makes a new directory in sn's private directory (mnt/ beside
// its snapshots, mode 0700): where temporary mounts and scratch directories go.
func TempDir(sn Snapshotter, prefix string) (string, error) {
	base := filepath.Join(filepath.Dir(sn.Root()), "mnt")
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if err := os.Chmod(base, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(base, prefix)
}

// WithTempMount mounts mounts privately (see MountPrivate) at a new
// directory of sn's, calls fn with it, then unmounts and removes it.
func WithTempMount(ctx context.Context, sn Snapshotter, mounts []Mount, fn func(root string) error) (err error) {
	dir, err := TempDir(sn, "m-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := MountPrivate(mounts, dir); err != nil {
		return err
	}
	defer func() {
		if uerr := Unmount(dir); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return fn(dir)
}
