package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// Start runs the container ref detached: the store's monitor runs it (see
// ServeMonitor); when none runs, monitor is the command of the strata
// process that will (`strata container monitor ID`), started in a session
// of its own. Start returns once the container runs, or with the reason it
// did not start.
func (m *Manager) Start(ctx context.Context, ref string, monitor *exec.Cmd) (Container, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return Container{}, err
	}
	if c.Running() {
		return c, nil // as docker start: nothing to do
	}
	m.markStopped(c.ID, false)
	before := c.Started
	exited := make(chan error, 1)
	var monitorErr error
	var gone time.Time // when the monitor process ended: it may have handed the container to another
	if m.askMonitor(c.ID) {
		gone = time.Now() // the store's monitor took it: no process of ours to watch
	} else { // no monitor runs for the store: this one will
		monitor.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		monitor.Stdin, monitor.Stdout, monitor.Stderr = nil, nil, nil
		if err := monitor.Start(); err != nil {
			return Container{}, fmt.Errorf("start the container's monitor: %w", err)
		}
		go func() { exited <- monitor.Wait() }()
	}
	for {
		now, err := m.Get(ctx, c.ID)
		switch {
		case errdefs.IsNotFound(err):
			return c, nil // it ran, ended and was removed (--rm)
		case err != nil:
			return c, err
		case now.Started.After(before) && now.State == store.StateRunning && m.started(now.ID):
			return now, nil
		case now.Started.After(before) && now.State == store.StateExited && now.Error != "":
			return now, errors.New(now.Error)
		case now.Started.After(before) && now.State == store.StateExited:
			return now, nil
		case !gone.IsZero() && (monitorErr != nil || time.Since(gone) > 30*time.Second):
			return now, fmt.Errorf("the container's monitor ended before the container ran: %v", monitorErr)
		}
		select {
		case monitorErr = <-exited:
			gone = time.Now()
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Stop stops a running container as `docker stop` does: its stop signal
// (SIGTERM unless the image says otherwise), then SIGKILL after timeout.
func (m *Manager) Stop(ctx context.Context, ref string, timeout time.Duration) (Container, error) {
	c, err := m.Get(ctx, ref)
	if err != nil || !c.Running() {
		return c, err
	}
	m.markStopped(c.ID, true)
	runc, err := m.runc()
	if err != nil {
		return c, err
	}
	if m.Paused(c) { // a frozen process takes no signal
		m.Unpause(ctx, c.ID)
	}
	sig := syscall.SIGTERM
	if s, ok := signalByName(c.Settings.Config.StopSignal); ok {
		sig = s
	}
	if err := m.kill(ctx, runc, c.ID, sig); err == nil && m.waitStopped(ctx, c.ID, timeout) {
		return m.Get(ctx, c.ID)
	}
	m.kill(ctx, runc, c.ID, syscall.SIGKILL)
	if !m.waitStopped(ctx, c.ID, 10*time.Second) {
		return c, fmt.Errorf("container %s did not stop after SIGKILL", c.Name)
	}
	return m.Get(ctx, c.ID)
}

// started reports whether runc has started the container's process.
func (m *Manager) started(id string) bool {
	_, err := os.Stat(runtime.PidFile(m.dir(id)))
	return err == nil
}

// kill signals the container, waiting a little for one whose monitor has
// not had runc start it yet.
func (m *Manager) kill(ctx context.Context, runc *runtime.Runc, id string, sig syscall.Signal) error {
	for deadline := time.Now().Add(5 * time.Second); ; {
		err := runc.Kill(ctx, id, sig)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if c, gerr := m.Get(ctx, id); gerr != nil || !c.Running() {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStopped waits up to timeout for the container to stop running.
func (m *Manager) waitStopped(ctx context.Context, id string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c, err := m.Get(ctx, id)
		if err != nil || !c.Running() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Remove deletes a container: its writable layer, its files and its record.
// A running one is refused unless force, which kills it first.
func (m *Manager) Remove(ctx context.Context, ref string, force bool) error {
	return m.RemoveWith(ctx, ref, force, false)
}

// RemoveWith is Remove, and with volumes (rm -v) the container's anonymous
// volumes too.
func (m *Manager) RemoveWith(ctx context.Context, ref string, force, volumes bool) error {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.Running() {
		if !force {
			return fmt.Errorf("cannot remove container %s: it is running; stop it first, or remove it with -f: %w", c.Name, errdefs.ErrConflict)
		}
		runc, err := m.runc()
		if err != nil {
			return err
		}
		m.markStopped(c.ID, true)
		if m.Paused(c) {
			m.Unpause(ctx, c.ID)
		}
		m.kill(ctx, runc, c.ID, syscall.SIGKILL)
		if !m.waitStopped(ctx, c.ID, 10*time.Second) {
			return fmt.Errorf("container %s did not stop after SIGKILL", c.Name)
		}
	}
	dir := m.dir(c.ID)
	if runc, err := m.runc(); err == nil && runc.Known(c.ID) { // no runc process to ask, most of the time
		runc.Delete(ctx, c.ID)
	}
	snapshot.Unmount(filepath.Join(dir, "rootfs"))
	network.RemoveNetNS(filepath.Join(dir, "netns"))
	if n := networkName(c.Settings.Options.Network); n != network.None && n != network.Host {
		m.networks.Detach(n, c.ID)
	}
	if err := m.sn.Remove(ctx, snapshotKey(c.ID)); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := m.store.RemoveContainer(ctx, c.ID); err != nil {
		return err
	}
	if volumes {
		m.removeAnonymousVolumes(ctx, c)
	}
	return nil
}

// Pruned is what Prune removed.
type Pruned struct {
	IDs   []string
	Bytes int64 // disk the removed containers' writable layers took
}

// Prune removes every container that is not running.
func (m *Manager) Prune(ctx context.Context) (Pruned, error) {
	var p Pruned
	cs, err := m.List(ctx)
	if err != nil {
		return p, err
	}
	var errs []error
	for _, c := range cs {
		if c.Running() {
			continue
		}
		if u, err := m.sn.Usage(ctx, snapshotKey(c.ID)); err == nil {
			p.Bytes += u.Size
		}
		if err := m.Remove(ctx, c.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		p.IDs = append(p.IDs, c.ID)
	}
	return p, errors.Join(errs...)
}

// Usage is the disk the container's writable layer takes.
func (m *Manager) Usage(ctx context.Context, id string) (int64, error) {
	u, err := m.sn.Usage(ctx, snapshotKey(id))
	return u.Size, err
}

// signalByName reads a signal as Dockerfiles write it: "SIGTERM", "TERM", "15".
func signalByName(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	sig := unix.SignalNum(strings.ToUpper(s))
	return sig, sig != 0
}

// Reap cleans up after the strata processes that were killed while they
// watched a container (a foreground run that got SIGKILL, a monitor that
// died): the container, which runc may still run, is killed and its
// mounts, namespace and address given back; it is recorded as exited
// (137), and removed if it was run with --rm. Every strata command that
// opens the containers calls it, so nothing of such a run outlives the
// next command.
func (m *Manager) Reap(ctx context.Context) error {
	cs, err := m.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if c.State != store.StateRunning || c.Running() || alive(c.Pid, c.PidStart) {
			continue
		}
		m.log.Info("cleaning up after a container whose strata process is gone", "container", c.Name)
		if runc, err := m.runc(); err == nil {
			runc.Delete(ctx, c.ID)
		}
		dir := m.dir(c.ID)
		snapshot.Unmount(filepath.Join(dir, "rootfs"))
		network.RemoveNetNS(filepath.Join(dir, "netns"))
		if n := networkName(c.Settings.Options.Network); n != network.None && n != network.Host {
			m.networks.Detach(n, c.ID)
		}
		for _, f := range []string{"ports.json", "endpoint.json", "paused", "pid"} {
			os.Remove(filepath.Join(dir, f))
		}
		_, err := m.store.UpdateContainer(ctx, c.ID, func(r *store.Container) error {
			if r.State == store.StateRunning && !alive(r.Pid, r.PidStart) {
				r.State, r.ExitCode, r.Finished, r.Pid, r.PidStart = store.StateExited, 137, time.Now(), 0, 0
				r.Error = "the strata process that ran it was killed"
			}
			return nil
		})
		if err == nil && c.Settings.AutoRemove {
			err = m.RemoveWith(ctx, c.ID, false, true)
		}
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
