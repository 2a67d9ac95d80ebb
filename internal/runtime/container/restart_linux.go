package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// RestartPolicy is --restart: no, on-failure[:N], always, unless-stopped.
type RestartPolicy struct {
	Name       string `json:",omitempty"` // "" is "no"
	MaxRetries int    `json:",omitempty"` // on-failure's N; 0 for no limit
}

// ParseRestartPolicy reads --restart as docker does.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "no", "always", "unless-stopped":
		if hasN {
			return p, fmt.Errorf("--restart %q: only on-failure takes a count: %w", s, errdefs.ErrInvalidArgument)
		}
	case "on-failure":
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return p, fmt.Errorf("--restart %q: the count must be a number: %w", s, errdefs.ErrInvalidArgument)
			}
			p.MaxRetries = v
		}
	default:
		return p, fmt.Errorf("--restart %q: want no, on-failure[:N], always or unless-stopped: %w", s, errdefs.ErrInvalidArgument)
	}
	if name == "no" {
		p.Name = ""
	}
	return p, nil
}

func (m *Manager) stoppedMark(id string) string  { return filepath.Join(m.dir(id), "stopped-by-user") }
func (m *Manager) restartsFile(id string) string { return filepath.Join(m.dir(id), "restarts") }

// RestartCount is how many times the container's monitor restarted it.
func (m *Manager) RestartCount(id string) int {
	b, _ := os.ReadFile(m.restartsFile(id))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// markStopped records that the user stopped the container (stop, kill,
// rm -f), which unless-stopped and the others honour; a start clears it.
func (m *Manager) markStopped(id string, stopped bool) {
	if stopped {
		os.WriteFile(m.stoppedMark(id), nil, 0o600)
	} else {
		os.Remove(m.stoppedMark(id))
	}
}

// stoppedByUser reports whether the user stopped the container last.
func (m *Manager) stoppedByUser(id string) bool {
	_, err := os.Stat(m.stoppedMark(id))
	return err == nil
}

// RestartDelay is how long the monitor waits before restart number n (from
// 0): 100 ms doubling, at most a minute, as Docker's.
func RestartDelay(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// ShouldRestart says whether the monitor runs the container again after it
// ended with code, by its policy, and counts the restart if so.
func (m *Manager) ShouldRestart(c Container, code int) bool {
	p := c.Settings.Restart
	if p.Name == "" || m.stoppedByUser(c.ID) {
		return false
	}
	n := m.RestartCount(c.ID)
	if p.Name == "on-failure" && (code == 0 || (p.MaxRetries > 0 && n >= p.MaxRetries)) {
		return false
	}
	os.WriteFile(m.restartsFile(c.ID), []byte(strconv.Itoa(n+1)), 0o600)
	return true
}

// WantsRunning reports whether a container that is not running should be
// started when the machine boots: always, unless-stopped that the user did
// not stop, on-failure whose last run failed with retries left.
func (m *Manager) WantsRunning(c Container) bool {
	if c.Running() || m.stoppedByUser(c.ID) {
		return false
	}
	switch p := c.Settings.Restart; p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return c.ExitCode != 0 && (p.MaxRetries == 0 || m.RestartCount(c.ID) < p.MaxRetries)
	}
	return false
}
