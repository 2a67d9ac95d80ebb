// Command pull measures `strata pull` against `podman pull` and `docker
// pull` of the same image from the same registry, side by side in one run:
// a 5-layer image of about 200 MB of small files, pulled cold (nothing of it
// local) and warm (pulled again). Every tool goes through one counting proxy
// in front of distribution 2.8.2, so the blob requests of each pull are
// counted too. As root (which docker needs), strata unpacks the layers into
// snapshots as docker and podman do, so all three end with a runnable image;
// a last row runs strata as nobody, which stores and verifies the layers
// without unpacking them (it cannot mount), to show what unpacking costs.
//
//	go run ./bench/pull [-runs 3] [-layers 5] [-mb 200]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

func main() {
	runs := flag.Int("runs", 3, "pulls of each kind per tool (the median counts)")
	layers := flag.Int("layers", 5, "layers in the image")
	mb := flag.Int("mb", 200, "megabytes of files in the image")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *runs, *layers, int64(*mb)*1000*1000); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
}

// result is one tool's figures.
type result struct {
	name                 string
	cold, warm           time.Duration
	coldBlobs, warmBlobs int64
}

func run(ctx context.Context, runs, layers int, size int64) error {
	work, err := os.MkdirTemp("", "strata-bench-pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "strata")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/strata (run from the module root): %w", err)
	}
	reg, err := startRegistry(ctx, work)
	if err != nil {
		return err
	}
	defer reg.stop()
	d, err := generate(layers, size/int64(layers))
	if err != nil {
		return err
	}
	ref := reg.addr + "/bench/pull:1"
	if err := d.push(ctx, reg.addr, "bench/pull", "1"); err != nil {
		return err
	}
	fmt.Printf("image: %d layers, %d files, %.0f MB of files, %.0f MB compressed; registry: distribution 2.8.2 on loopback; median of %d runs\n\n",
		layers, d.files, float64(d.tarBytes)/1e6, float64(d.compressed())/1e6, runs)

	tools := []tool{strataTool(bin, work)}
	makers := []func(string) (tool, error){podmanTool,
		func(w string) (tool, error) { return dockerTool(ctx, w) },
		func(w string) (tool, error) { return strataUserTool(bin, w) }}
	for _, mk := range makers {
		t, err := mk(work)
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipped:", err)
			continue
		}
		tools = append(tools, t)
	}
	defer func() {
		for _, t := range tools {
			t.stop()
		}
	}()
	results, err := measure(reg, tools, ref, runs)
	if err != nil {
		return err
	}
	report(results)
	return nil
}

// measure times cold pulls (the image forgotten before each) and warm ones,
// the tools taking turns in each round so that whatever else the machine
// does weighs on all of them alike.
func measure(reg *registry, tools []tool, ref string, runs int) ([]result, error) {
	cold := make([][]time.Duration, len(tools))
	warm := make([][]time.Duration, len(tools))
	results := make([]result, len(tools))
	for range runs {
		for i, t := range tools {
			r := &results[i]
			r.name = t.name
			if err := t.forget(ref); err != nil {
				return nil, fmt.Errorf("%s: forget the image: %w", t.name, err)
			}
			syscall.Sync() // what the last pull or removal wrote does not weigh on this one
			took, blobs, err := timed(reg, t.pull(ref))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			cold[i], r.coldBlobs = append(cold[i], took), blobs
			took, blobs, err = timed(reg, t.pull(ref))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			warm[i], r.warmBlobs = append(warm[i], took), max(r.warmBlobs, blobs)
		}
	}
	for i := range results {
		results[i].cold, results[i].warm = median(cold[i]), median(warm[i])
	}
	return results, nil
}

func timed(reg *registry, cmd *exec.Cmd) (time.Duration, int64, error) {
	before := reg.blobs.Load()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
	}
	return took, reg.blobs.Load() - before, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func report(results []result) {
	fmt.Println("| tool | cold pull | warm pull | blob GETs cold / warm |")
	fmt.Println("|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %d / %d |\n", r.name, r.cold.Round(time.Millisecond), r.warm.Round(time.Millisecond), r.coldBlobs, r.warmBlobs)
	}
	fmt.Println()
	s := results[0]
	var best *result
	var peers []result
	for _, o := range results[1:] {
		if o.name == "docker" || o.name == "podman" {
			peers = append(peers, o)
		}
	}
	for i, o := range peers {
		if best == nil || o.cold < best.cold {
			best = &peers[i]
		}
	}
	if best != nil {
		fmt.Printf("cold: strata is %.2fx as fast as %s, the faster of the others (target: at least 2x)\n",
			float64(best.cold)/float64(s.cold), best.name)
		for _, o := range peers {
			fmt.Printf("warm: strata is %.1fx as fast as %s\n", float64(o.warm)/float64(s.warm), o.name)
		}
	}
	fmt.Printf("warm: strata %s with %d blob requests (target: under 100 ms, none)\n", s.warm.Round(time.Millisecond), s.warmBlobs)
}
