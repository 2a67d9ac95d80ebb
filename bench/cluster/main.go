// Command cluster measures the hub past one machine: one `strata hub
// serve` against three, on the same PostgreSQL and SeaweedFS, each behind
// Debian's haproxy (round-robin per request), and distribution 2.8.2 with
// its s3 driver on the same SeaweedFS behind the same haproxy. For 8 and
// 64 concurrent clients it measures push and pull throughput of 2 MiB
// images, the rate of small-image pushes, each operation's p50 and p99
// latency, and every server's peak memory (RSS). Each setup gets a bucket
// and a database of its own; they run one after the other, in one run.
//
//	go run ./bench/cluster            # from the module root
//
// It needs haproxy, PostgreSQL, weed (.tools/bin, scripts/test builds it)
// and docker-registry (Debian's distribution 2.8.2).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/bench/internal/workdir"
	"github.com/strata-dev/strata/internal/testutil"
	"github.com/strata-dev/strata/internal/testutil/engines"
)

var (
	clientsFlag = flag.String("clients", "8,64", "concurrent clients, comma-separated")
	bigSize     = flag.Int("big", 2<<20, "bytes in a big image's layer")
	bigPer      = flag.Int("big-per-client", 2, "big images each client pushes (and pulls)")
	smallPer    = flag.Int("small-per-client", 10, "small images each client pushes")
	only        = flag.String("only", "", "run only these setups (comma-separated: 1-node,3-nodes,distribution)")
	keep        = flag.Bool("keep", false, "keep the work directory")
)

func main() {
	flag.Parse()
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cluster:", err)
		os.Exit(1)
	}
}

// server is a process the bench measures the memory of.
type server struct {
	name string
	pid  func() int
	peak atomic.Int64
}

// setup is what clients talk to: haproxy's address, over servers.
type setup struct {
	name    string
	addr    string
	servers []*server
	stop    func()
}

func run(ctx context.Context) error {
	var counts []int
	for _, s := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-clients %q: want numbers", *clientsFlag)
		}
		counts = append(counts, n)
	}
	work, cleanup, err := workdir.New("cluster", *keep)
	if err != nil {
		return err
	}
	defer cleanup()
	root, _ := os.Getwd()
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	reg, err := exec.LookPath("docker-registry")
	if err != nil {
		return errors.New("docker-registry (Debian's distribution 2.8.2) is not installed: apt-get install docker-registry")
	}
	pg, err := engines.StartPostgres(engines.PostgresOptions{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Remove()
	weed, err := engines.StartSeaweedFS(root)
	if err != nil {
		return err
	}
	defer weed.Remove()
	for _, kv := range weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_CA_BUNDLE") // distribution 2.8.2's s3 driver panics on it

	fmt.Printf("bench/cluster: %s clients, big images of one %d KiB layer (%d per client), small images of one 1 KiB layer (%d per client); load average %s, %d CPUs\n\n",
		*clientsFlag, *bigSize>>10, *bigPer, *smallPer, workdir.LoadAverage(), runtime.NumCPU())
	fmt.Println("| setup | clients | workload | rate | p50 / p99 | servers' CPU per image |")
	fmt.Println("|---|---:|---|---:|---:|---:|")
	for _, mk := range []struct {
		name  string
		start func(ctx context.Context, dir string) (*setup, error)
	}{
		{"1-node", func(ctx context.Context, dir string) (*setup, error) { return strataSetup(ctx, bin, pg, weed, dir, 1) }},
		{"3-nodes", func(ctx context.Context, dir string) (*setup, error) { return strataSetup(ctx, bin, pg, weed, dir, 3) }},
		{"distribution", func(ctx context.Context, dir string) (*setup, error) { return distributionSetup(ctx, reg, weed, dir) }},
	} {
		if *only != "" && !strings.Contains(","+*only+",", ","+mk.name+",") {
			continue
		}
		dir := filepath.Join(work, mk.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s, err := mk.start(ctx, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", mk.name, err)
		}
		err = measureSetup(ctx, s, counts)
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", mk.name, err)
		}
	}
	fmt.Printf("\nload average after: %s\n", workdir.LoadAverage())
	return nil
}

func strataSetup(ctx context.Context, bin string, pg *engines.Postgres, weed *engines.SeaweedFS, dir string, nodes int) (*setup, error) {
	name := fmt.Sprintf("strata-%d", nodes)
	db, err := pg.NewDatabase(ctx, name)
	if err != nil {
		return nil, err
	}
	bucket, err := weed.NewBucket(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := engines.StartCluster(ctx, engines.ClusterOptions{Bin: bin, Dir: dir, Nodes: nodes,
		Database: db, Storage: weed.URL(bucket, "hub"),
		Args: []string{"--open", "--gc-interval", "-1s", "--scrub-interval", "-1s", "--max-uploads", "-1"}})
	if err != nil {
		return nil, err
	}
	s := &setup{name: fmt.Sprintf("strata, %d node(s)", nodes), addr: c.Addr, stop: c.Stop}
	for _, n := range c.Nodes {
		s.servers = append(s.servers, &server{name: n.Name, pid: n.Pid})
	}
	return s, nil
}

func distributionSetup(ctx context.Context, reg string, weed *engines.SeaweedFS, dir string) (*setup, error) {
	bucket, err := weed.NewBucket(ctx, "distribution")
	if err != nil {
		return nil, err
	}
	addr := workdir.FreeAddr()
	cfg := weed.DistributionConfig(bucket, addr)
	conf := filepath.Join(dir, "distribution.yml")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "distribution.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(reg, "serve", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stopReg := func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() }
	if !waitHTTP("http://"+addr+"/v2/", 30*time.Second) {
		stopReg()
		return nil, fmt.Errorf("distribution did not answer: %s", engines.Tail(logf.Name(), 10))
	}
	// distribution has no /readyz: haproxy checks /v2/ (its answer is 200 open).
	proxyDir := filepath.Join(dir, "haproxy")
	os.MkdirAll(proxyDir, 0o755)
	p, err := engines.StartHaproxyChecking(proxyDir, []string{addr}, "/v2/")
	if err != nil {
		stopReg()
		return nil, err
	}
	return &setup{name: "distribution 2.8.2 (s3)", addr: p.Addr,
		servers: []*server{{name: "registry", pid: func() int { return cmd.Process.Pid }}},
		stop:    func() { p.Stop(); stopReg() }}, nil
}

func waitHTTP(url string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// measureSetup runs the three workloads at each count of clients, and
// prints a row for each.
func measureSetup(ctx context.Context, s *setup, counts []int) error {
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			for _, sv := range s.servers {
				if r := engines.ProcessRSS(sv.pid()); r > sv.peak.Load() {
					sv.peak.Store(r)
				}
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stopSampling); wg.Wait() }()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	// Not measured: the store makes a new bucket's volumes at its first
	// write, which takes seconds.
	warm := image(1024)
	if err := push(s.addr+"/warm/up:1", warm); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	if err := pullImage(s.addr+"/warm/up:1", warm); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	for _, n := range counts {
		for _, sv := range s.servers {
			sv.peak.Store(0)
		}
		big := make([]v1.Image, n**bigPer)
		for i := range big {
			big[i] = image(*bigSize)
		}
		small := make([]v1.Image, n**smallPer)
		for i := range small {
			small[i] = image(1024)
		}
		repo := fmt.Sprintf("bench/c%d", n)
		mb := float64(*bigSize) / 1e6
		for _, w := range []struct {
			name string
			unit string  // what the rate counts
			per  float64 // units per operation
			imgs []v1.Image
			op   func(ref string, img v1.Image, opts ...remote.Option) error
			tag  string
		}{
			{"push 1 x " + sizeLabel(*bigSize), "MB/s", mb, big, push, "big"},
			{"pull 1 x " + sizeLabel(*bigSize), "MB/s", mb, big, pullImage, "big"},
			{"push small", "images/s", 1, small, push, "small"},
			{"pull small", "images/s", 1, small, pullImage, "small"},
		} {
			cpuBefore := s.cpu()
			wall, lat, err := each(ctx, n, len(w.imgs), tr, func(i int, opts ...remote.Option) error {
				return w.op(fmt.Sprintf("%s/%s/%s%d:1", s.addr, repo, w.tag, i), w.imgs[i], opts...)
			})
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			cpu := s.cpu() - cpuBefore
			fmt.Printf("| %s | %d | %s | %.1f %s | %s | %.1f ms |\n", s.name, n, w.name,
				float64(len(w.imgs))*w.per/wall.Seconds(), w.unit, pct(lat), float64(cpu.Milliseconds())/float64(len(w.imgs)))
		}
		var rss []string
		for _, sv := range s.servers {
			rss = append(rss, fmt.Sprintf("%.0f", float64(sv.peak.Load())/(1<<20)))
		}
		fmt.Printf("| %s | %d | peak RSS per server | %s MiB | | |\n", s.name, n, strings.Join(rss, " / "))
	}
	return nil
}

// image is an image of one random layer of size bytes.
func image(size int) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, testutil.RandomLayer(size))
	if err != nil {
		panic(err)
	}
	return img
}

func push(ref string, img v1.Image, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img, opts...)
}

// pullImage pulls ref whole (img is what was pushed there; unused).
func pullImage(ref string, _ v1.Image, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return testutil.PullAll(r, opts...)
}

// each runs fn for 0..total-1 over clients goroutines, each with its own
// pusher and puller (its own token and connections), and returns the wall
// time and every call's latency.
func each(ctx context.Context, clients, total int, tr http.RoundTripper, fn func(i int, opts ...remote.Option) error) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	lat := make([]time.Duration, total)
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range clients {
		pusher, err := remote.NewPusher(remote.WithTransport(tr))
		if err != nil {
			return 0, nil, err
		}
		puller, err := remote.NewPuller(remote.WithTransport(tr))
		if err != nil {
			return 0, nil, err
		}
		opts := []remote.Option{remote.Reuse(pusher), remote.Reuse(puller), remote.WithContext(ctx)}
		g.Go(func() error {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= total {
					return nil
				}
				t := time.Now()
				if err := fn(i, opts...); err != nil {
					return err
				}
				lat[i] = time.Since(t)
			}
			return ctx.Err()
		})
	}
	err := g.Wait()
	return time.Since(start), lat, err
}

// sizeLabel is 2 MiB for 2<<20.
func sizeLabel(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// cpu is the CPU time the setup's servers have used so far.
func (s *setup) cpu() time.Duration {
	var total time.Duration
	for _, sv := range s.servers {
		total += processCPU(sv.pid())
	}
	return total
}

// processCPU is a process's user and system time, from /proc (0 if it is gone).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's ")": state is the 3rd field, utime the 14th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// pct is "p50 / p99" of latencies, in milliseconds.
func pct(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		i := int(q * float64(len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	return fmt.Sprintf("%.0f / %.0f ms", at(0.5), at(0.99))
}
