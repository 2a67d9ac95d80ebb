package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-dev/strata/internal/content/local"
)

// One monitor process serves every detached container of a store: the
// first `strata container monitor` listens on monitor.sock under the root,
// and `Start` hands it the containers that start while it runs; it exits
// when the last of them has ended (and its restart policy is done with
// it). Each container costs it a few goroutines and buffers, where a
// process of its own would cost megabytes (the Go runtime and strata's
// package data, which no process shares with another).

func (m *Manager) monitorSocket() string { return filepath.Join(m.root, "monitor.sock") }

// askMonitor hands container id to the store's running monitor, if one
// takes it.
func (m *Manager) askMonitor(id string) bool {
	short, done, err := shortPath(m.monitorSocket())
	if err != nil {
		return false
	}
	defer done()
	conn, err := net.DialTimeout("unix", short, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, id); err != nil {
		return false
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && reply == "ok\n"
}

// ServeMonitor is `strata container monitor ID`: it runs container id with
// run (which returns when the container is done with, restarts included),
// and becomes the store's monitor, running the containers that Start
// hands it until none is left; or, when another process already is the
// monitor, hands id to it and returns.
func (m *Manager) ServeMonitor(ctx context.Context, id string, run func(ctx context.Context, id string)) error {
	lock, err := local.LockFile(filepath.Join(m.root, "monitor.lock"), true, true)
	if err != nil {
		return err
	}
	if m.askMonitor(id) {
		lock.Unlock()
		return nil
	}
	path := m.monitorSocket()
	os.Remove(path) // a monitor that was killed left it
	short, done, err := shortPath(path)
	if err != nil {
		lock.Unlock()
		return err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
	done()
	lock.Unlock()
	if err != nil {
		return fmt.Errorf("monitor socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	os.Chmod(path, 0o600)

	var (
		mu      sync.Mutex
		running int
		closing bool
		wg      sync.WaitGroup
	)
	// While it closes, a Start that connects gets no answer and starts a
	// monitor of its own.
	start := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		if closing {
			return false
		}
		running++
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if running--; running == 0 {
				closing = true
				os.Remove(path)
				l.Close()
			}
		}()
		return true
	}
	start(id)
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, syscall.EINTR) {
				continue
			}
			break
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if id := strings.TrimSpace(line); err == nil && validID(id) && start(id) {
			fmt.Fprintln(conn, "ok")
		}
		conn.Close()
	}
	wg.Wait()
	return nil
}

func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
