package network

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A hold keeps a network up while containers come and go, and its release
// takes it down once no container is on it; the hold of a process that is
// gone keeps nothing up.
func TestHold(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes network namespaces")
	}
	for _, tool := range []string{"slirp4netns", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (scripts/test installs it)", tool)
		}
	}
	n := Open(t.TempDir())
	t.Cleanup(func() { n.Down() })
	ns := n.NamespacePath(Default)
	release, err := n.Hold(Default)
	if err != nil {
		t.Fatal(err)
	}
	if !isNetNS(ns) {
		t.Fatal("a hold did not set the network up")
	}
	// A container on it and off again: the hold keeps it up.
	container := filepath.Join(t.TempDir(), "netns")
	must(t, NewNetNS(container))
	t.Cleanup(func() { RemoveNetNS(container) })
	const id = "0123456789abcdef0123456789abcdef"
	if _, err := n.Attach(Default, id, container); err != nil {
		t.Fatal(err)
	}
	must(t, n.Detach(Default, id))
	if !isNetNS(ns) {
		t.Fatal("the network went down with its last container while a build held it")
	}
	must(t, release())
	if isNetNS(ns) {
		t.Fatal("the network stayed up after its hold was released, with no container on it")
	}

	// A hold left by a process that was killed keeps nothing up.
	release, err = n.Hold(Default)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(n.path(Default, "holds", "999999999-1-dead"), nil, 0o600))
	must(t, release())
	if isNetNS(ns) {
		t.Fatal("a dead process's hold kept the network up")
	}
	if left, _ := os.ReadDir(n.path(Default, "holds")); len(left) != 0 {
		t.Fatalf("holds left: %v", left)
	}
}
