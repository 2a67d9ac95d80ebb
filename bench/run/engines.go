package main

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/strata-dev/strata/bench/internal/dockerd"
)

// strataEngine is strata with its store at root and the snapshotter named
// ("" for the one the store picks).
func strataEngine(bin, root, snapshotter string) engine {
	return engine{name: "strata", cmd: func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--root", root}, args...)...)
		cmd.Env = append(os.Environ(), "STRATA_SNAPSHOTTER="+snapshotter)
		return cmd
	}}
}

// podmanEngine is podman with a private store. Root here lacks
// CAP_SYS_RESOURCE, so podman's default rlimits must be ones it may set.
func podmanEngine(work string) engine {
	dir := filepath.Join(work, "podman")
	os.MkdirAll(dir, 0o755)
	runroot, _ := os.MkdirTemp("", "pbr-") // podman wants it under 50 characters
	conf := filepath.Join(dir, "containers.conf")
	os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=1024:1024\"]\n"), 0o644)
	cmd := func(args ...string) *exec.Cmd {
		c := exec.Command("podman", append([]string{"--root", filepath.Join(dir, "root"), "--runroot", runroot,
			"--storage-driver", "overlay"}, args...)...)
		c.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		return c
	}
	return engine{name: "podman", cmd: cmd, stop: func() {
		cmd("system", "reset", "--force").Run()
		os.RemoveAll(runroot)
	}}
}

// dockerEngine is docker with a private dockerd (bench/internal/dockerd).
func dockerEngine(d *dockerd.Daemon) engine {
	return engine{name: "docker", cmd: d.Command, stop: d.Stop}
}
