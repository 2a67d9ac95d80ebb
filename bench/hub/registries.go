package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/bench/internal/workdir"
)

// registry is one registry process under test.
type registry struct {
	name string
	addr string
	cmd  *exec.Cmd
	// probe reads what it asked of the engines (with -engines), and costs
	// adds it up per scenario.
	probe *probe
	costs map[string]*cost

	mu   sync.Mutex
	peak int64 // KiB, the highest RSS the sampler saw
}

// startAll builds strata and starts both registries on loopback ports.
func startAll(ctx context.Context, work string) ([]*registry, error) {
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return nil, err
	}
	reg, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry (Debian's distribution 2.8.2) is not installed: apt-get install docker-registry")
	}
	sAddr, dAddr := workdir.FreeAddr(), workdir.FreeAddr()
	strata, err := start(ctx, work, "strata", sAddr, bin, "hub", "serve", "--open", "--addr", sAddr,
		"--data-dir", workPath(work, "strata-data"), "--gc-interval", "-1s")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n  secret: bench\n",
		workPath(work, "distribution-data"), dAddr)
	if err := os.WriteFile(workPath(work, "distribution.yml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	dist, err := start(ctx, work, "distribution", dAddr, reg, "serve", workPath(work, "distribution.yml"))
	if err != nil {
		strata.stop()
		return nil, err
	}
	return []*registry{strata, dist}, nil
}

// start runs a registry with its output in work/<name>.log and waits for /v2/.
func start(ctx context.Context, work, name, addr, bin string, args ...string) (*registry, error) {
	logf, err := os.Create(workPath(work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &registry{name: name, addr: addr, cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			time.Sleep(500 * time.Millisecond) // let it settle before the idle reading
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("%s did not answer on %s (see %s)", name, addr, workPath(work, name+".log"))
}

func (r *registry) stop() {
	r.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
}

// status reads a field (in KiB) of /proc/<pid>/status.
func (r *registry) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func (r *registry) rss() int64 { return r.status("VmRSS") }

// sample records the process's RSS every 50ms until the returned func is called.
func (r *registry) sample() func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			r.mu.Lock()
			r.peak = max(r.peak, r.rss())
			r.mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (r *registry) peakRSS() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.peak, r.status("VmHWM"))
}

// measure runs one scenario; on the engines it adds what the scenario
// asked of them, for units images or blobs, to r.costs[name].
func (r *registry) measure(ctx context.Context, name string, units float64, fn func() error) error {
	if r.probe == nil {
		return fn()
	}
	before, err := r.probe.read(ctx)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	after, err := r.probe.read(ctx)
	if err != nil {
		return err
	}
	if r.costs == nil {
		r.costs = map[string]*cost{}
	}
	if r.costs[name] == nil {
		r.costs[name] = &cost{}
	}
	r.costs[name].add(before, after, units)
	return nil
}
