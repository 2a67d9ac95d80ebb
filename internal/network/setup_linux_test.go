package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"os/exec"

	"golang.org/x/sys/unix"
)

// TestNetworkLeavesHostMountsAlone: starting a network (its slirp4netns
// sandbox) must not unmount anything in the host's mount namespace. Docker
// keeps its data root as a shared mount with the containers' root
// filesystems mounted below it; a sandbox that detaches its old root from a
// namespace still joined to that peer group unmounts them on the host.
func TestNetworkLeavesHostMountsAlone(t *testing.T) {
	// Not testutil's helpers: testutil imports this package.
	if os.Geteuid() != 0 {
		t.Skip("needs root: it mounts and makes network namespaces")
	}
	for _, tool := range []string{"slirp4netns", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (scripts/test installs it)", tool)
		}
	}

	// A shared mount with a mount below it, as docker's data root.
	shared := filepath.Join(t.TempDir(), "data")
	sub := filepath.Join(shared, "merged")
	must(t, os.MkdirAll(sub, 0o700))
	must(t, unix.Mount(shared, shared, "", unix.MS_BIND, ""))
	t.Cleanup(func() { unix.Unmount(shared, unix.MNT_DETACH) })
	must(t, unix.Mount("", shared, "", unix.MS_SHARED, ""))
	must(t, unix.Mount("tmpfs", sub, "tmpfs", 0, "size=64k"))
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })

	n := Open(t.TempDir())
	t.Cleanup(func() { n.Down() })
	if err := n.locked(Default, func() error { return n.ensure(defaultConfig()) }); err != nil {
		t.Fatal(err)
	}
	// Wait until slirp4netns has built its sandbox: its old root, with
	// our mounts, detached from its namespace.
	b, err := os.ReadFile(n.path(Default, "slirp.pid"))
	must(t, err)
	var pid int
	fmt.Sscan(string(b), &pid)
	inSandbox := func() bool {
		mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
		return err == nil && !strings.Contains(string(mi), shared)
	}
	for deadline := time.Now().Add(10 * time.Second); !inSandbox(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("slirp4netns did not make its sandbox")
		}
	}
	if !mountedAt(t, sub) {
		t.Fatal("starting a network unmounted a mount of the host (below a shared mount)")
	}
}

func mountedAt(t *testing.T, dir string) bool {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
