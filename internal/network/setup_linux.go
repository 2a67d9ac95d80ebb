package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

const (
	bridgeName = "strata0"
	tapName    = "tap0"
	bridgeMTU  = 1500
	slirpMTU   = 65520
)

// Networks are the networks of one store.
type Networks struct {
	dir string // networks/ under the store's root
}

// Open returns the networks kept under a store's root.
func Open(storeRoot string) *Networks {
	return &Networks{dir: filepath.Join(storeRoot, "networks")}
}

func (n *Networks) path(name string, parts ...string) string {
	return filepath.Join(append([]string{n.dir, name}, parts...)...)
}

// Config reads a network's config; the default network always has one.
func (n *Networks) Config(name string) (Config, error) {
	b, err := os.ReadFile(n.path(name, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if name == Default {
			return defaultConfig(), nil
		}
		return Config{}, fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("network %s: %w", name, err)
	}
	return c, nil
}

// locked runs fn holding the network's lock, its directory made.
func (n *Networks) locked(name string, fn func() error) error {
	if err := os.MkdirAll(n.path(name, "leases"), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(n.path(name, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock network %s: %w", name, err)
	}
	return fn()
}

// ensure makes sure the network's namespace is there with its bridge, NAT
// and a running slirp4netns: after a reboot, or a crash of slirp4netns,
// what is missing is made again. The caller holds the network's lock.
func (n *Networks) ensure(c Config) error {
	ns := n.path(c.Name, "netns")
	if !isNetNS(ns) {
		RemoveNetNS(ns)
		if err := NewNetNS(ns); err != nil {
			return err
		}
		if err := setupNamespace(ns, c); err != nil {
			RemoveNetNS(ns)
			return fmt.Errorf("network %s: %w", c.Name, err)
		}
	}
	if slirpRunning(n.path(c.Name, "slirp.pid")) {
		return nil
	}
	return n.startSlirp(c.Name, ns)
}

// down stops the network's slirp4netns and removes its namespace. The
// caller holds the network's lock.
func (n *Networks) down(name string) error {
	pidFile := n.path(name, "slirp.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		var pid int
		var start uint64
		if _, err := fmt.Sscan(string(b), &pid, &start); err == nil && pid > 0 && processStart(pid) == start {
			unix.Kill(pid, unix.SIGTERM)
		}
		os.Remove(pidFile)
	}
	return RemoveNetNS(n.path(name, "netns"))
}

// Prune takes down the networks that no container is on and no process
// holds but are still up (a crash between the last container's end and its
// Detach, or of a build holding one) and returns their names; the next
// container on one sets it up again.
func (n *Networks) Prune() ([]string, error) {
	entries, err := os.ReadDir(n.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var downed []string
	var errs []error
	for _, e := range entries {
		errs = append(errs, n.locked(e.Name(), func() error {
			if !isNetNS(n.path(e.Name(), "netns")) {
				return nil
			}
			idle, err := n.unused(e.Name())
			if err != nil || !idle {
				return err
			}
			downed = append(downed, e.Name())
			return n.down(e.Name())
		}))
	}
	return downed, errors.Join(errs...)
}

// Down takes every network of the store down (stops their slirp4netns,
// removes their namespaces), whoever still holds an address: for a store
// about to be deleted.
func (n *Networks) Down() error {
	entries, err := os.ReadDir(n.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, n.locked(e.Name(), func() error { return n.down(e.Name()) }))
	}
	return errors.Join(errs...)
}

// isNetNS reports whether path is a pinned network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// setupNamespace puts the bridge in the network's namespace, turns
// forwarding on there, and has nft masquerade the containers' traffic out
// of slirp4netns's tap device: rules of that namespace alone.
func setupNamespace(ns string, c Config) error {
	h, closeNS, err := handleAt(ns)
	if err != nil {
		return err
	}
	defer closeNS()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: bridgeMTU}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	gw := &netlink.Addr{IPNet: prefixNet(netipPrefix(c.Gateway, c.Subnet.Bits()))}
	if err := h.AddrAdd(br, gw); err != nil {
		return fmt.Errorf("bridge address: %w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge up: %w", err)
	}
	rules := fmt.Sprintf(`table ip strata {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %s oifname %q masquerade
	}
}
`, c.Subnet, tapName)
	return InNetNS(ns, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("forwarding in the network's namespace: %w", err)
		}
		nft, err := exec.LookPath("nft")
		if err != nil {
			return fmt.Errorf("nft is not installed; strata's networks need it for their NAT (in their own namespace): "+
				"install it with `apt-get install nftables`: %w", errdefs.ErrUnavailable)
		}
		cmd := exec.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft: %v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	})
}

// startSlirp starts slirp4netns for the network, apart from this process
// (a session of its own, so it outlives the strata command that started
// it), and waits until it has configured its tap device.
func (n *Networks) startSlirp(name, ns string) error {
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return fmt.Errorf("slirp4netns is not installed; strata's networks reach the outside through it: "+
			"install it with `apt-get install slirp4netns`, or run with --network none or host: %w", errdefs.ErrUnavailable)
	}
	log, err := os.OpenFile(n.path(name, "slirp.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ready.Close()
	cmd := exec.Command(bin, "--configure", "--mtu="+strconv.Itoa(slirpMTU), "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--netns-type=path", "--ready-fd=3", ns, tapName)
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stdout, cmd.Stderr = log, log
	// Its sandbox makes "/" private without MS_REC, pivots and detaches the
	// old root: in the host's mount namespace that unmount would propagate
	// through every shared mount below "/" (docker's data root is one), and
	// take the host's mounts under them away. So it starts in a namespace of
	// its own whose mounts are all private (Go makes "/" MS_REC|MS_PRIVATE
	// when it unshares CLONE_NEWNS for a child).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Unshareflags: syscall.CLONE_NEWNS}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start slirp4netns: %w", err)
	}
	go cmd.Wait() // reaped here while this process lives; init does it after
	// Named at once, before it is ready: a strata killed while it waits
	// must not leave a slirp4netns that no pid file names, which down
	// could not stop.
	pidFile := n.path(name, "slirp.pid")
	pid := cmd.Process.Pid
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d %d\n", pid, processStart(pid)), 0o600); err != nil {
		cmd.Process.Kill()
		return err
	}
	ready.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := ready.Read(make([]byte, 1)); err != nil {
		cmd.Process.Kill()
		os.Remove(pidFile)
		b, _ := os.ReadFile(n.path(name, "slirp.log"))
		return fmt.Errorf("slirp4netns did not come up: %v: %s", err, bytes.TrimSpace(b))
	}
	return nil
}

// slirpRunning reports whether the slirp4netns that pidFile names runs.
func slirpRunning(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil {
		return false
	}
	return pid > 0 && start != 0 && processStart(pid) == start
}

// processStart is when a live (not zombie) process started, in clock ticks
// since boot: with its PID it names the process for good. 0 when gone.
func processStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// handleAt opens a netlink handle on the namespace pinned at path.
func handleAt(path string) (*netlink.Handle, func(), error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

// InNetNS runs fn on a thread of its own in the network namespace pinned at
// path; the thread is thrown away after, so nothing else ever runs in it.
// A program fn starts runs in that namespace too.
func InNetNS(path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}
