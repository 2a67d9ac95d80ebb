package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxMountOptions is what one mount(2) call takes as options: one page.
const maxMountOptions = 4095

// Mount mounts m at target.
func (m Mount) Mount(target string) error {
	switch m.Type {
	case "bind":
		flags := uintptr(unix.MS_BIND)
		ro := false
		for _, o := range m.Options {
			switch o {
			case "rbind":
				flags |= unix.MS_REC
			case "ro":
				ro = true
			}
		}
		if err := unix.Mount(m.Source, target, "", flags, ""); err != nil {
			return fmt.Errorf("bind mount %s at %s: %w", m.Source, target, err)
		}
		if ro {
			// A bind mount becomes read-only only by a remount.
			if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("make %s read-only: %w", target, err)
			}
		}
		return nil
	case "overlay":
		data := strings.Join(m.Options, ",")
		if len(data) > maxMountOptions {
			return mountOverlayLong(m.Options, target)
		}
		if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
			return fmt.Errorf("mount overlay at %s (%s): %w", target, data, err)
		}
		return nil
	}
	return fmt.Errorf("mount type %q is not one strata makes", m.Type)
}

// mountOverlayLong mounts an overlay whose options do not fit in a page,
// with the new mount API: one "lowerdir+" per layer (Linux 6.8 and later).
func mountOverlayLong(options []string, target string) error {
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
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("overlay option %s: %w", k, err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// MountAll mounts each of mounts at target, in order.
func MountAll(mounts []Mount, target string) error {
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

// WithTempMount mounts mounts at a new temporary directory, calls fn with
// it, then unmounts and removes the directory.
func WithTempMount(ctx context.Context, mounts []Mount, fn func(root string) error) (err error) {
	dir, err := os.MkdirTemp("", "strata-mount-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := MountAll(mounts, dir); err != nil {
		return err
	}
	defer func() {
		if uerr := Unmount(dir); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return fn(dir)
}
