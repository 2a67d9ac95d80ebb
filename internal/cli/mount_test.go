package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/testutil"
)

// TestImageMountIsPrivate: an image with a setuid-root program and a device
// node, mounted with `image mount`, gives a local user nothing: the mount is
// nosuid and nodev, in a directory only root enters; rmi and prune refuse
// the mounted image, even forced; unmount leaves nothing behind.
func TestImageMountIsPrivate(t *testing.T) {
	root := busyboxRoot(t, "")
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	suid := filepath.Join(rootfs, "bin", "rootshell")
	if err := os.WriteFile(suid, []byte("#!/bin/sh\nid\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(rootfs, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "import", rootfs, "hostile:1")
	dir := strings.TrimSpace(mustStrata(t, root, "image", "mount", "hostile:1"))
	t.Cleanup(func() { strata(t, root, nil, "image", "unmount", "hostile:1") })

	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_NOSUID == 0 || st.Flags&unix.ST_NODEV == 0 || st.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("image mount %s has flags %#x: want ro, nosuid, nodev", dir, st.Flags)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin", "rootshell")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("the setuid program is not in the mount: %v", err)
	}
	if f, err := os.OpenFile(filepath.Join(dir, "null"), os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Errorf("the image's device node opened through the mount")
	}
	// A local user cannot even list it.
	ls := exec.Command("/bin/ls", dir)
	ls.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := ls.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("user nobody: ls %s: %v %s, want permission denied", dir, err, out)
	}

	for _, args := range [][]string{{"rmi", "hostile:1"}, {"rmi", "-f", "hostile:1"}} {
		_, err := strata(t, root, nil, args...)
		if err == nil || !strings.Contains(err.Error(), "image is mounted at "+dir) {
			t.Errorf("strata %s: %v, want it refused as mounted", strings.Join(args, " "), err)
		}
	}
	mustStrata(t, root, "image", "prune", "-af")
	if out := mustStrata(t, root, "images", "-q"); !strings.Contains(out, "\n") || !strings.Contains(mustStrata(t, root, "images", "hostile"), "hostile") {
		t.Fatalf("prune -a removed the mounted image: %s", out)
	}

	mustStrata(t, root, "image", "unmount", "hostile:1")
	if mounted(t, dir) {
		t.Errorf("%s is still mounted after unmount", dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mount point %s is left behind: %v", dir, err)
	}
	mustStrata(t, root, "rmi", "hostile:1")
}

// mounted reports whether dir is a mount point, from /proc/self/mountinfo.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
