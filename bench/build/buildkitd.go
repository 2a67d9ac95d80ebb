package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// buildkitEngine is a current BuildKit: buildkitd (the version go.mod
// requires, which scripts/test builds into .tools/bin) as root with the
// runc worker in a private directory, driven by buildctl with the
// dockerfile.v0 frontend; each build stores its image (type=image, not
// pushed), as strata's does.
func buildkitEngine(ctx context.Context, work, registry string) (engine, error) {
	find := func(name string) (string, error) {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		p, err := filepath.Abs(filepath.Join(".tools", "bin", name)) // benchmarks run from the module root
		if _, serr := os.Stat(p); err != nil || serr != nil {
			return "", fmt.Errorf("%s is not built: run scripts/test once (it builds it into .tools/bin)", name)
		}
		return p, nil
	}
	bkd, err := find("buildkitd")
	if err != nil {
		return engine{}, err
	}
	ctl, err := find("buildctl")
	if err != nil {
		return engine{}, err
	}
	dir, err := os.MkdirTemp("", "bench-bk-") // a socket path is short
	if err != nil {
		return engine{}, err
	}
	addr := "unix://" + dir + "/bk.sock"
	cfg := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[registry.%q]\n  http = true\n", registry)), 0o644); err != nil {
		return engine{}, err
	}
	logf, err := os.Create(filepath.Join(work, "buildkitd.log"))
	if err != nil {
		return engine{}, err
	}
	cmd := exec.Command(bkd, "--config", cfg, "--root", filepath.Join(dir, "root"), "--addr", addr,
		"--containerd-worker=false", "--oci-worker=true", "--oci-worker-net=host")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return engine{}, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if exec.CommandContext(ctx, ctl, "--addr", addr, "debug", "workers").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return engine{}, fmt.Errorf("buildkitd did not start: see %s", filepath.Join(work, "buildkitd.log"))
		}
	}
	return engine{name: "BuildKit (buildkitd)", stop: stop,
		cmd: func(args ...string) *exec.Cmd { return exec.Command(ctl, append([]string{"--addr", addr}, args...)...) },
		build: func(dir string, noCache bool) []string {
			args := []string{"build", "--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
				"--output", "type=image,name=docker.io/library/bench:img"}
			if noCache {
				args = append(args, "--no-cache")
			}
			return args
		}}, nil
}
