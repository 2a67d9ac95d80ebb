package archive

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp copies the entry name of the directory lfd, whose stat is st, to
// the same name in the directory ufd, as overlayfs copies a file up from a
// lower layer: content, owner, mode, xattrs and times. Nothing is followed.
func copyUp(lfd, ufd int, name string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if err := copyContent(lfd, ufd, name); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkAt(lfd, name)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, ufd, name); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(ufd, name, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s is a socket, which a layer cannot hold", name)
	}
	if err := copyMeta(lfd, ufd, name, st); err != nil {
		return err
	}
	return unix.UtimesNanoAt(ufd, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

// copyMeta gives the entry name of ufd the owner, mode and xattrs (but
// overlayfs's own) of the one of lfd, whose stat is st.
func copyMeta(lfd, ufd int, name string, st *unix.Stat_t) error {
	if err := unix.Fchownat(ufd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(ufd, name, st.Mode&0o7777, 0); err != nil {
			return err
		}
	}
	to := procPath(ufd, name)
	return eachFileXattr(procPath(lfd, name), func(x string, val []byte) error {
		if err := unix.Lsetxattr(to, x, val, 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", x, err)
		}
		return nil
	})
}

func copyContent(lfd, ufd int, name string) error {
	in, err := unix.Openat(lfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(in), name)
	defer src.Close()
	out, err := unix.Openat(ufd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(out), name)
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
