package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// running gets a container that must be running for what the caller does.
func (m *Manager) running(ctx context.Context, ref string) (Container, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return c, err
	}
	if !c.Running() {
		return c, fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	return c, nil
}

// Kill sends sig to a running container's first process, as `docker kill`.
func (m *Manager) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	return m.signal(ctx, ref, sig, true)
}

// Signal sends sig to the running container's first process without
// marking it stopped by the user (attach's --sig-proxy).
func (m *Manager) Signal(ctx context.Context, ref string, sig syscall.Signal) error {
	return m.signal(ctx, ref, sig, false)
}

func (m *Manager) signal(ctx context.Context, ref string, sig syscall.Signal, byUser bool) error {
	c, err := m.running(ctx, ref)
	if err != nil {
		return err
	}
	runc, err := m.runc()
	if err != nil {
		return err
	}
	if byUser {
		m.markStopped(c.ID, true) // as docker: a killed container is not restarted
	}
	return m.kill(ctx, runc, c.ID, sig)
}

// SignalByName reads a signal as docker kill -s takes it: KILL, SIGHUP, 9.
func SignalByName(s string) (syscall.Signal, error) {
	sig, ok := signalByName(s)
	if !ok {
		return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// Wait waits until the container is not running and returns its exit status.
func (m *Manager) Wait(ctx context.Context, ref string) (int, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return 0, err
	}
	for c.Running() {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if c, err = m.Get(ctx, c.ID); errdefs.IsNotFound(err) {
			return 0, nil // removed as it ended (--rm)
		} else if err != nil {
			return 0, err
		}
	}
	return c.ExitCode, nil
}

// pausedMark is there while the container is paused.
func (m *Manager) pausedMark(id string) string { return filepath.Join(m.dir(id), "paused") }

// Paused reports whether a running container is paused.
func (m *Manager) Paused(c Container) bool {
	if !c.Running() {
		return false
	}
	_, err := os.Stat(m.pausedMark(c.ID))
	return err == nil
}

// Pause freezes every process of the container (the freezer cgroup), as
// `docker pause`; Unpause thaws them.
func (m *Manager) Pause(ctx context.Context, ref string) error { return m.freeze(ctx, ref, true) }

// Unpause undoes Pause.
func (m *Manager) Unpause(ctx context.Context, ref string) error { return m.freeze(ctx, ref, false) }

func (m *Manager) freeze(ctx context.Context, ref string, pause bool) error {
	c, err := m.running(ctx, ref)
	if err != nil {
		return err
	}
	if m.Paused(c) == pause {
		word := map[bool]string{true: "already paused", false: "not paused"}[pause]
		return fmt.Errorf("container %s is %s: %w", c.Name, word, errdefs.ErrConflict)
	}
	runc, err := m.runc()
	if err != nil {
		return err
	}
	if pause {
		if err := runc.Run(ctx, "pause", c.ID); err != nil {
			return err
		}
		return os.WriteFile(m.pausedMark(c.ID), nil, 0o600)
	}
	if err := runc.Run(ctx, "resume", c.ID); err != nil {
		return err
	}
	return os.Remove(m.pausedMark(c.ID))
}

// Rename gives a container a new name.
func (m *Manager) Rename(ctx context.Context, ref, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return m.store.RenameContainer(ctx, ref, strings.TrimPrefix(name, "/"))
}

// Top lists the container's processes as ps -ef does (runc ps).
func (m *Manager) Top(ctx context.Context, ref string, psArgs ...string) (string, error) {
	c, err := m.running(ctx, ref)
	if err != nil {
		return "", err
	}
	runc, err := m.runc()
	if err != nil {
		return "", err
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	return runc.Output(ctx, append([]string{"ps", c.ID}, psArgs...)...)
}
