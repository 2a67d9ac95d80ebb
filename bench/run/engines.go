package main

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/strata-dev/strata/bench/internal/dockerd"
	"github.com/strata-dev/strata/bench/internal/podman"
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

// podmanEngine is podman with a private store (bench/internal/podman).
func podmanEngine(work string) (engine, error) {
	p, err := podman.New(filepath.Join(work, "podman"))
	if err != nil {
		return engine{}, err
	}
	return engine{name: "podman", cmd: p.Command, stop: p.Stop}, nil
}

// dockerEngine is docker with a private dockerd (bench/internal/dockerd).
func dockerEngine(d *dockerd.Daemon) engine {
	return engine{name: "docker", cmd: d.Command, stop: d.Stop}
}
