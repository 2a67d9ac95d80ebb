package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Hold sets network name up, if it is not, and keeps it up until release
// is called, whether or not a container is on it: a build holds its RUN
// steps' network from its first step that runs to its end, instead of
// setting it up and taking it down again around each RUN. A hold is a file
// named after the holding process, so the hold of a process that was
// killed stops counting (see unused).
func (n *Networks) Hold(name string) (release func() error, err error) {
	c, err := n.Config(name)
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	pid := os.Getpid()
	hold := n.path(name, "holds", fmt.Sprintf("%d-%d-%s", pid, processStart(pid), hex.EncodeToString(suffix)))
	err = n.locked(name, func() error {
		if err := os.MkdirAll(n.path(name, "holds"), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(hold, nil, 0o600); err != nil {
			return err
		}
		if err := n.ensure(c); err != nil {
			os.Remove(hold)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func() error {
		return n.locked(name, func() error {
			if err := os.Remove(hold); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return n.downIfUnused(name)
		})
	}, nil
}

// downIfUnused takes network name down if nothing keeps it up any more.
// The caller holds the network's lock.
func (n *Networks) downIfUnused(name string) error {
	idle, err := n.unused(name)
	if err != nil || !idle {
		return err
	}
	return n.down(name)
}

// unused reports whether nothing keeps network name up: no container has
// an address on it and no live process holds it. The holds of processes
// that are gone are removed on the way. The caller holds the network's
// lock.
func (n *Networks) unused(name string) (bool, error) {
	leases, err := os.ReadDir(n.path(name, "leases"))
	if err != nil || len(leases) > 0 {
		return false, err
	}
	holds, err := os.ReadDir(n.path(name, "holds"))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	idle := true
	for _, h := range holds {
		if holderAlive(h.Name()) {
			idle = false
		} else {
			os.Remove(n.path(name, "holds", h.Name()))
		}
	}
	return idle, nil
}

// holderAlive reports whether the process a hold file is named after
// (PID-START-SUFFIX) still runs.
func holderAlive(hold string) bool {
	f := strings.SplitN(hold, "-", 3)
	if len(f) != 3 {
		return false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	return err1 == nil && err2 == nil && pid > 0 && start != 0 && processStart(pid) == start
}
