package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/strata-dev/strata/bench/internal/dockerd"
	"github.com/strata-dev/strata/bench/internal/podman"
)

// writeContext writes the build context: the Dockerfile and 50 source
// files of 4 KiB.
func writeContext(work string) (string, error) {
	dir := filepath.Join(work, "context")
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		return "", err
	}
	for i := 0; i < 50; i++ {
		body := bytes.Repeat([]byte(fmt.Sprintf("line %d of a source file\n", i)), 200)
		if err := os.WriteFile(filepath.Join(dir, "src", fmt.Sprintf("f%02d.txt", i)), body[:4096], 0o644); err != nil {
			return "", err
		}
	}
	return dir, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
}

// buildArgs are a build's arguments, the same for every engine.
func buildArgs(ctx string, noCache bool, extra ...string) []string {
	args := append([]string{"build", "-q", "--network", "none", "-t", "bench:img"}, extra...)
	if noCache {
		args = append(args, "--no-cache")
	}
	return append(args, ctx)
}

func strataEngine(bin, root string) engine {
	return engine{name: "strata", cmd: func(args ...string) *exec.Cmd {
		return exec.Command(bin, append([]string{"--root", root}, args...)...)
	}, build: func(ctx string, noCache bool) []string { return buildArgs(ctx, noCache) }}
}

// dockerEngine is docker with the builder buildkit says: "0" the classic
// one (20.10's default), "1" BuildKit.
func dockerEngine(d *dockerd.Daemon, name, buildkit string, stop func()) engine {
	return engine{name: name, stop: stop, cmd: func(args ...string) *exec.Cmd {
		c := d.Command(args...)
		c.Env = append(c.Env, "DOCKER_BUILDKIT="+buildkit)
		return c
	}, build: func(ctx string, noCache bool) []string { return buildArgs(ctx, noCache) }}
}

// podmanEngine is podman with a private store (bench/internal/podman),
// building with its layer cache.
func podmanEngine(work string) (engine, error) {
	p, err := podman.New(filepath.Join(work, "podman"))
	if err != nil {
		return engine{}, err
	}
	return engine{name: "podman", cmd: p.Command, stop: p.Stop, build: func(ctx string, noCache bool) []string {
		return buildArgs(ctx, noCache, "--layers", "--pull=never")
	}}, nil
}
