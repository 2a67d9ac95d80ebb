package engines

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one `strata hub serve` process of a hub, on a loopback port.
type Node struct {
	Name string
	Addr string // 127.0.0.1:port
	bin  string
	args []string
	log  string
	proc *process
}

// StartNode runs `bin hub serve --addr ADDR args...` with its output in
// dir/NAME.log, and waits until its /readyz answers 200. The process
// inherits this one's environment (the store's AWS_* credentials).
func StartNode(bin, dir, name string, args ...string) (*Node, error) {
	port, err := freePort(0)
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin,
		log: filepath.Join(dir, name+".log")}
	n.args = append([]string{"hub", "serve", "--addr", n.Addr}, args...)
	return n, n.Start()
}

// Start starts the node (again, after Kill or Stop) on the same address
// and arguments, and waits until it is ready.
func (n *Node) Start() error {
	p, err := start(n.log, nil, syscall.SIGKILL, n.bin, n.args...)
	if err != nil {
		return err
	}
	n.proc = p
	return p.waitUntil(time.Minute, "hub node "+n.Name, func() bool { return httpOK("http://" + n.Addr + "/readyz") })
}

// Kill ends the node with SIGKILL, as a crash would, and waits until it is gone.
func (n *Node) Kill() { n.proc.stop(syscall.SIGKILL, 10*time.Second) }

// Stop ends the node with SIGTERM (it drains first), killing it after wait.
func (n *Node) Stop(wait time.Duration) { n.proc.stop(syscall.SIGTERM, wait) }

// Running reports whether the node's process is alive.
func (n *Node) Running() bool { return n.proc != nil && !n.proc.exited() }

// Pid is the node's process id.
func (n *Node) Pid() int { return n.proc.cmd.Process.Pid }

// Log is the end of the node's output, for an error message.
func (n *Node) Log(lines int) string { return Tail(n.log, lines) }

// RSS is the node's resident memory in bytes (0 once it has exited).
func (n *Node) RSS() int64 { return ProcessRSS(n.Pid()) }

// ProcessRSS reads a process's VmRSS from /proc, in bytes; 0 if it is gone.
func ProcessRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Haproxy is Debian's haproxy balancing HTTP requests over hub nodes.
type Haproxy struct {
	Addr  string // 127.0.0.1:port, where clients go
	Stats string // 127.0.0.1:port of its stats page (/stats;csv)
	conf  string
	proc  *process
}

// HaproxyConfig is the haproxy.cfg that balances each request of a client
// over servers (host:port each) round-robin, in HTTP mode, taking a server
// out when its /readyz fails twice (checked every checkEvery) and
// retrying a connection refused on another server. deploy/cluster's
// haproxy.cfg is the same with an operator's addresses.
func HaproxyConfig(listen, stats string, servers []string, check string, checkEvery time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096

defaults
    mode http
    option http-server-close
    option redispatch
    option forwardfor
    retries 3
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    timeout queue 30s

frontend hub
    bind %s
    default_backend nodes

frontend stats
    bind %s
    stats enable
    stats uri /stats

backend nodes
    balance roundrobin
    option httpchk GET %s
    http-check expect status 200
    # A node busy with a burst of requests answers /readyz late, not never.
    timeout check 3s
    default-server inter %dms fastinter %dms downinter %dms fall 2 rise 1
`, listen, stats, check, checkEvery.Milliseconds(), checkEvery.Milliseconds(), checkEvery.Milliseconds())
	for i, s := range servers {
		fmt.Fprintf(&b, "    server node%d %s check\n", i+1, s)
	}
	return b.String()
}

// StartHaproxy runs haproxy in dir in front of hub nodes and waits until
// it forwards to one of them.
func StartHaproxy(dir string, servers []string) (*Haproxy, error) {
	return StartHaproxyChecking(dir, servers, "/readyz")
}

// StartHaproxyChecking is StartHaproxy for servers whose health is at
// path check (200 when they may take requests).
func StartHaproxyChecking(dir string, servers []string, check string) (*Haproxy, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/haproxy"); e != nil {
			return nil, &Missing{What: "haproxy is not installed: apt-get install haproxy (scripts/test installs it)"}
		}
		bin = "/usr/sbin/haproxy"
	}
	port, err := freePort(0)
	if err != nil {
		return nil, err
	}
	statsPort, err := freePort(0)
	if err != nil {
		return nil, err
	}
	h := &Haproxy{Addr: fmt.Sprintf("127.0.0.1:%d", port), Stats: fmt.Sprintf("127.0.0.1:%d", statsPort),
		conf: filepath.Join(dir, "haproxy.cfg")}
	cfg := HaproxyConfig(h.Addr, h.Stats, servers, check, 300*time.Millisecond)
	if err := os.WriteFile(h.conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	// -db: stay in the foreground, logging to stderr.
	if h.proc, err = start(filepath.Join(dir, "haproxy.log"), nil, syscall.SIGKILL, bin, "-db", "-f", h.conf); err != nil {
		return nil, err
	}
	if err := h.proc.waitUntil(30*time.Second, "haproxy", func() bool { return httpOK("http://" + h.Addr + check) }); err != nil {
		h.Stop()
		return nil, err
	}
	return h, nil
}

// Up is how many servers haproxy counts as up.
func (h *Haproxy) Up() int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + h.Stats + "/stats;csv")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	n := 0
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		f := strings.Split(s.Text(), ",")
		if len(f) > 17 && f[0] == "nodes" && f[1] != "BACKEND" && f[17] == "UP" {
			n++
		}
	}
	return n
}

// Stop ends haproxy.
func (h *Haproxy) Stop() { h.proc.stop(syscall.SIGTERM, 5*time.Second) }

// Cluster is a hub of several nodes on one PostgreSQL database and one
// bucket, behind haproxy.
type Cluster struct {
	Addr     string // haproxy's address: the hub's
	Nodes    []*Node
	Proxy    *Haproxy
	Database string // postgres:// URL
	Storage  string // s3:// URL
	Dir      string
}

// ClusterOptions say how to start a cluster.
type ClusterOptions struct {
	Bin      string // the strata binary
	Dir      string // where the nodes' data directories and logs go
	Nodes    int
	Database string // postgres:// URL of a database of the cluster's own
	Storage  string // s3:// URL of a bucket of the cluster's own
	// Args go to every node's `hub serve` (--open, --gc-interval...).
	Args []string
	// NoProxy starts the nodes without haproxy.
	NoProxy bool
}

// StartCluster starts the nodes one after the other (the first migrates
// the database), then haproxy in front of them. On an error it stops
// what it started.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if o.Nodes <= 0 {
		return nil, errors.New("a cluster needs a node")
	}
	c := &Cluster{Database: o.Database, Storage: o.Storage, Dir: o.Dir}
	var addrs []string
	for i := range o.Nodes {
		name := fmt.Sprintf("node%d", i+1)
		data := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			c.Stop()
			return nil, err
		}
		args := append([]string{"--data-dir", data, "--database", o.Database, "--storage", o.Storage}, o.Args...)
		n, err := StartNode(o.Bin, o.Dir, name, args...)
		if n != nil && n.proc != nil {
			c.Nodes = append(c.Nodes, n)
		}
		if err != nil {
			c.Stop()
			return nil, err
		}
		addrs = append(addrs, n.Addr)
	}
	if o.NoProxy {
		return c, nil
	}
	p, err := StartHaproxy(o.Dir, addrs)
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Proxy, c.Addr = p, p.Addr
	return c, nil
}

// WaitUp waits until haproxy counts n servers as up.
func (c *Cluster) WaitUp(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for c.Proxy.Up() != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy counts %d nodes up after %s, not %d", c.Proxy.Up(), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Stop ends haproxy and every node (SIGTERM, then SIGKILL).
func (c *Cluster) Stop() {
	if c.Proxy != nil {
		c.Proxy.Stop()
	}
	for _, n := range c.Nodes {
		n.Stop(5 * time.Second)
	}
}

// Logs is the end of every node's log, for a failing test.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", n.Name, n.Addr, n.Log(lines))
	}
	return b.String()
}

// BuildStrata builds moduleRoot's cmd/strata into a directory of its own
// (removed by Reap once this process is gone) and returns its path.
func BuildStrata(ctx context.Context, moduleRoot string) (string, error) {
	dir, err := makeDir("strata")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "strata")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
	}
	return bin, nil
}
