// Command hub benchmarks strata's hub against the reference registry
// (Debian's docker-registry, CNCF distribution 2.8.2), side by side in one
// run, both driven by the same independent client (go-containerregistry):
//
//  1. push of one image of 4 x 64 MiB layers;
//  2. 400 small images pushed by 8 concurrent clients;
//  3. pulls of both (the big image, then the 400 by 8 clients);
//  4. a second push of the big image under a new tag, which must upload no blob.
//
// Each registry runs as its own process with its data on the same disk;
// every scenario runs -rounds times, alternating registries, and the median
// counts. It prints the figures, the ratios (strata / distribution, higher
// is better) and the hub's memory (RSS) at idle and its peak under load.
//
// With -engines both run on the engines of a hub past one machine: strata
// with blobs in S3 (SeaweedFS) and metadata in PostgreSQL, once serving
// blobs itself and once redirecting pulls to the store, against
// distribution with its own s3 driver on the same SeaweedFS.
//
//	go run ./bench/hub [-rounds 3] [-keep] [-engines]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"github.com/strata-dev/strata/bench/internal/workdir"
)

func main() {
	rounds := flag.Int("rounds", 3, "times each scenario runs per registry (the median counts)")
	keep := flag.Bool("keep", false, "keep the work directory (data and logs)")
	onEngines := flag.Bool("engines", false, "the hub past one machine: strata on S3 (SeaweedFS) + PostgreSQL, with and without --redirect, against distribution's s3 driver on the same SeaweedFS")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rounds, *keep, *onEngines); err != nil {
		fmt.Fprintln(os.Stderr, "bench/hub:", err)
		os.Exit(1)
	}
}

// result is one registry's figures.
type result struct {
	bigPush, smallPush, bigPull, smallPull []time.Duration
	repushUploads                          int
	idleRSS, peakRSS                       int64 // KiB
}

func run(ctx context.Context, rounds int, keep, onEngines bool) error {
	work, cleanup, err := workdir.New("hub", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Println("generating data: 4 x 64 MiB layers, 400 small images")
	data, err := generate()
	if err != nil {
		return err
	}
	var regs []*registry
	var e *enginesSetup
	if onEngines {
		regs, e, err = startOnEngines(ctx, work)
		defer e.stop()
	} else {
		regs, err = startAll(ctx, work)
	}
	defer func() {
		for _, r := range regs {
			r.stop()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Println("load average at the start:", workdir.LoadAverage())
	defer func() { fmt.Println("load average at the end:", workdir.LoadAverage()) }()
	results := map[string]*result{}
	for _, r := range regs {
		results[r.name] = &result{idleRSS: r.rss()}
	}
	for round := 0; round < rounds; round++ {
		for _, r := range regs {
			fmt.Printf("round %d: %s\n", round+1, r.name)
			if err := runRound(ctx, r, data, round, results[r.name]); err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
		}
	}
	for _, r := range regs {
		results[r.name].peakRSS = r.peakRSS()
	}
	for _, r := range regs {
		if r.name != "distribution" {
			report(data, r.name, results[r.name], results["distribution"])
		}
	}
	if onEngines {
		ceiling, err := storeCeiling(ctx, e.weed, data, rounds)
		if err != nil {
			return err
		}
		mb := float64(data.bigBytes()) / 1e6
		best, dist := mb/median(ceiling).Seconds(), mb/median(results["distribution"].bigPush).Seconds()
		fmt.Printf("\nThe store alone (the big image's layers written straight to SeaweedFS, %d parts of %d MiB at once):\n"+
			"  %.1f MB/s, %.2fx distribution's big push: no registry on this store, on this machine, pushes faster\n",
			ceilingInFlight, ceilingPartSize>>20, best, best/dist)
		fmt.Println("\nWhat each asked of the engines (all rounds; S3: the store's own mean time per request):")
		for _, r := range regs {
			fmt.Println(r.name + ":")
			for _, s := range []struct{ name, unit string }{
				{"push big", "64 MiB layer"}, {"push small", "image"}, {"pull big", "64 MiB layer"}, {"pull small", "image"},
			} {
				r.costs[s.name].print(s.name, s.unit)
			}
		}
	}
	return nil
}

// runRound runs the four scenarios once against a registry; repositories
// are new each round so that nothing is already there.
func runRound(ctx context.Context, r *registry, data *dataset, round int, res *result) error {
	c := newClient(r.addr)
	sampler := r.sample()
	defer sampler()
	repo := fmt.Sprintf("bench/big%d", round)
	small := fmt.Sprintf("bench/small%d", round)
	n := float64(len(data.small))
	var d time.Duration
	var err error
	steps := []struct {
		name  string
		units float64
		fn    func() error
		into  *[]time.Duration
	}{
		{"push big", bigLayers, func() error { d, _, err = c.pushBig(repo+":1", data); return err }, &res.bigPush},
		{"push small", n, func() error { d, err = c.pushSmall(ctx, small, data); return err }, &res.smallPush},
		{"pull big", bigLayers, func() error { d, err = c.pullBig(repo + ":1"); return err }, &res.bigPull},
		{"pull small", n, func() error { d, err = c.pullSmall(ctx, small, data); return err }, &res.smallPull},
	}
	for _, s := range steps {
		if err := r.measure(ctx, s.name, s.units, s.fn); err != nil {
			return err
		}
		*s.into = append(*s.into, d)
	}
	_, uploads, err := c.pushBig(repo+":2", data)
	if err != nil {
		return err
	}
	res.repushUploads = max(res.repushUploads, uploads)
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func report(data *dataset, name string, s, d *result) {
	mib := float64(data.bigBytes()) / (1 << 20)
	n := float64(len(data.small))
	fmt.Println()
	fmt.Printf("%-34s %24s %24s %8s\n", "scenario (median, min-max)", name, "distribution", "ratio")
	row := func(label, unit string, x float64, st, dt []time.Duration) {
		sv, dv := x/median(st).Seconds(), x/median(dt).Seconds()
		spread := func(ts []time.Duration) string {
			lo, hi := ts[0], ts[0]
			for _, t := range ts {
				lo, hi = min(lo, t), max(hi, t)
			}
			return fmt.Sprintf("%.1f-%.1f", x/hi.Seconds(), x/lo.Seconds())
		}
		fmt.Printf("%-34s %7.1f %-4s %11s %7.1f %-4s %11s %7.2fx\n", label, sv, unit, spread(st), dv, unit, spread(dt), sv/dv)
	}
	row("1. push 4 x 64 MiB image", "MB/s", mib*1.048576, s.bigPush, d.bigPush)
	row("2. push 400 small images, 8 clients", "i/s", n, s.smallPush, d.smallPush)
	row("3a. pull the 4 x 64 MiB image", "MB/s", mib*1.048576, s.bigPull, d.bigPull)
	row("3b. pull 400 small images, 8 clients", "i/s", n, s.smallPull, d.smallPull)
	fmt.Printf("%-34s %7d %-4s %11s %7d %-4s\n", "4. re-push under a new tag", s.repushUploads, "up", "", d.repushUploads, "up")
	fmt.Printf("\n%s memory: %.1f MiB RSS idle, %.1f MiB peak under load\n",
		name, float64(s.idleRSS)/1024, float64(s.peakRSS)/1024)
	fmt.Printf("distribution memory: %.1f MiB RSS idle, %.1f MiB peak under load\n",
		float64(d.idleRSS)/1024, float64(d.peakRSS)/1024)
	if s.repushUploads != 0 {
		fmt.Println("FAIL: the second push of the big image uploaded blobs to strata's hub")
	}
}

// workPath is a path inside the work directory.
func workPath(work string, parts ...string) string {
	return filepath.Join(append([]string{work}, parts...)...)
}
