package main

import (
	"path/filepath"

	"github.com/strata-dev/strata/bench/internal/dockerd"
)

// dockerEngine is docker with a private dockerd (bench/internal/dockerd);
// its store is the daemon's data root.
func dockerEngine(d *dockerd.Daemon) engine {
	return engine{
		name: "docker",
		cmd:  d.Command,
		size: func() (int64, error) { return du(filepath.Join(d.Dir, "data")) },
	}
}
