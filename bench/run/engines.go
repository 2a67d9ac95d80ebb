package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/archive"
)

// busyboxTar writes a busybox root file system as a tar and returns its path.
func busyboxTar(work string) (string, error) {
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

// startDockerd starts a private dockerd: its own data root and socket, no
// bridge and no firewall changes.
func startDockerd(ctx context.Context, dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return engine{}, err
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return engine{}, err
	}
	sock := "unix://" + filepath.Join(dir, "sock")
	proc := exec.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "-H", sock, "--storage-driver", "overlay2",
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")
	proc.Stdout, proc.Stderr = logf, logf
	if err := proc.Start(); err != nil {
		return engine{}, fmt.Errorf("start dockerd: %w", err)
	}
	cli := func(args ...string) *exec.Cmd {
		c := exec.Command("/usr/bin/docker", append([]string{"-H", sock}, args...)...)
		c.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cfg"))
		return c
	}
	stop := func() {
		proc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			proc.Process.Kill()
			<-done
		}
	}
	for i := 0; i < 300; i++ {
		if cli("version").Run() == nil {
			return engine{name: "docker", cmd: cli, stop: stop}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return engine{}, fmt.Errorf("dockerd did not start; see %s", logf.Name())
}
