package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// dockerd is a private docker daemon: its own data root and socket, no
// bridge and no firewall changes.
type dockerd struct {
	dir  string
	proc *exec.Cmd
}

func startDockerd(ctx context.Context, dir string) (*dockerd, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("dockerd needs root: run as root or with -docker=false")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	d := &dockerd{dir: dir}
	d.proc = exec.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "-H", "unix://"+filepath.Join(dir, "sock"), "--storage-driver", "overlay2",
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")
	d.proc.Stdout, d.proc.Stderr = logf, logf
	if err := d.proc.Start(); err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	for i := 0; i < 300; i++ {
		if d.cli("version").Run() == nil {
			return d, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop()
	return nil, fmt.Errorf("dockerd did not start; see %s", logf.Name())
}

func (d *dockerd) cli(args ...string) *exec.Cmd {
	cmd := exec.Command("/usr/bin/docker", append([]string{"-H", "unix://" + filepath.Join(d.dir, "sock")}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.dir, "cfg"))
	return cmd
}

func (d *dockerd) engine() engine {
	return engine{
		name: "docker",
		cmd:  d.cli,
		size: func() (int64, error) { return du(filepath.Join(d.dir, "data")) },
	}
}

func (d *dockerd) stop() {
	d.proc.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		d.proc.Process.Kill()
		<-done
	}
}
