// Package dockerd starts a private docker daemon for the benchmarks: its
// own data root, exec root and socket under a directory, no bridge and no
// firewall or forwarding changes (Docker's default networking changes the
// host's; see shared/peers), driven by Debian's 20.10 CLI (/usr/bin/docker,
// which a newer CLI in /usr/local may shadow). Needs root.
package dockerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Daemon is a running private dockerd.
type Daemon struct {
	Dir  string // its data, config and log live here
	Host string // unix://DIR/sock
	proc *exec.Cmd
	done chan struct{}
}

// Start starts dockerd with its state under dir and waits until it answers.
func Start(ctx context.Context, dir string) (*Daemon, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("dockerd needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		return nil, fmt.Errorf("dockerd is not installed: apt-get install docker.io")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, Host: "unix://" + filepath.Join(dir, "sock"), done: make(chan struct{})}
	d.proc = exec.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "-H", d.Host, "--storage-driver", "overlay2",
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")
	d.proc.Stdout, d.proc.Stderr = logf, logf
	if err := d.proc.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	go func() { d.proc.Wait(); logf.Close(); close(d.done) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if d.Command("version").Run() == nil {
			return d, nil
		}
		select {
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-d.done:
			return nil, fmt.Errorf("dockerd exited; see %s", logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.Stop()
	return nil, fmt.Errorf("dockerd did not start; see %s", logf.Name())
}

// Command is an unstarted docker CLI command against this daemon.
func (d *Daemon) Command(args ...string) *exec.Cmd {
	c := exec.Command("/usr/bin/docker", append([]string{"-H", d.Host}, args...)...)
	c.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Dir, "cfg"))
	return c
}

// Stop stops the daemon: SIGINT, then SIGKILL after 20 seconds.
func (d *Daemon) Stop() {
	d.proc.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.proc.Process.Kill()
		<-d.done
	}
}
