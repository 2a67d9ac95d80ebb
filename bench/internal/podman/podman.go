// Package podman runs Debian's podman for the benchmarks with a store of its
// own under a work directory, so a benchmark starts from nothing and leaves
// nothing behind. Needs root.
package podman

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Podman is podman with a private store.
type Podman struct {
	bin, root, runroot, conf string
}

// New prepares a private podman whose store lives under dir.
func New(dir string) (*Podman, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, fmt.Errorf("podman is not installed (apt-get install podman)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// podman refuses a run root path longer than 50 characters.
	runroot, err := os.MkdirTemp("", "pbr-")
	if err != nil {
		return nil, err
	}
	// Root here lacks CAP_SYS_RESOURCE, so podman's default rlimits
	// (nofile 1048576) make runc fail: ask for ones it may set.
	conf := filepath.Join(dir, "containers.conf")
	limits := "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=1024:1024\"]\n"
	if err := os.WriteFile(conf, []byte(limits), 0o644); err != nil {
		return nil, err
	}
	return &Podman{bin: bin, root: filepath.Join(dir, "root"), runroot: runroot, conf: conf}, nil
}

// Command is an unstarted podman command on the private store.
func (p *Podman) Command(args ...string) *exec.Cmd {
	// --tmpdir too: podman's default, /run/libpod, is shared with every
	// other podman on the machine, and one that resets removes it.
	c := exec.Command(p.bin, append([]string{"--root", p.root, "--runroot", p.runroot,
		"--tmpdir", filepath.Join(p.runroot, "libpod"), "--storage-driver", "overlay"}, args...)...)
	c.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return c
}

// Stop removes everything the private store holds.
func (p *Podman) Stop() {
	p.Command("system", "reset", "--force").Run()
	os.RemoveAll(p.runroot)
}
