package testutil

import (
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// DescribeTree describes every entry under dir, one line each, sorted:
// path, type and mode, owner, content digest or link target or device, and
// xattrs (overlayfs's own left out); mtimes of non-directories, in seconds,
// with withTimes. Two trees with the same description hold the same files, byte
// for byte, with the same metadata.
func DescribeTree(t testing.TB, dir string, withTimes bool) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %s %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d sha256:%x", len(b), sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode()&fs.ModeDevice != 0:
			line += fmt.Sprintf(" dev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if withTimes && !fi.IsDir() {
			line += fmt.Sprintf(" mtime %d", st.Mtim.Sec) // layer tars keep seconds
		}
		line += xattrsOf(p)
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("describe %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func xattrsOf(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var out []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%q", name, val[:m]))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return ""
	}
	return " xattrs[" + strings.Join(out, " ") + "]"
}

// BusyboxRootfs writes a small busybox root file system into dir: Debian's
// static /bin/busybox (package busybox-static) with a symlink for each of its
// applets, /etc/passwd and /etc/group with root, nobody and a user "app"
// (1000:1000), and /tmp, /root, /home/app. It skips the test when busybox is
// missing.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	bb := Tool(t, "busybox")
	if !isStatic(bb) {
		t.Skipf("%s is not statically linked: install Debian's busybox-static", bb)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "root", "home/app", "tmp", "var"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	must(os.Chown(filepath.Join(dir, "home/app"), 1000, 1000))
	body, err := os.ReadFile(bb)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "bin", "busybox"), body, 0o755))
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			must(os.Symlink("busybox", filepath.Join(dir, "bin", applet)))
		}
	}
	must(os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte(
		"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "etc", "group"), []byte(
		"root:x:0:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n"), 0o644))
}

// isStatic reports whether the ELF program at p needs no dynamic loader.
func isStatic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
