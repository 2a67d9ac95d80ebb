// Package rootfs makes the root file system the benchmarks import as their
// base image, the same for every engine.
package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/internal/archive"
)

// BusyboxTar writes a busybox root file system (Debian's busybox-static,
// a symlink per applet, /etc/passwd with root) as work/rootfs.tar and
// returns its path.
func BusyboxTar(work string) (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox is not installed: apt-get install busybox-static")
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(work, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), body, 0o755); err != nil {
		return "", err
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	var buf bytes.Buffer
	if err := archive.WriteDir(context.Background(), &buf, dir); err != nil {
		return "", err
	}
	p := filepath.Join(work, "rootfs.tar")
	return p, os.WriteFile(p, buf.Bytes(), 0o644)
}
