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
// Cold pulls come right after each tool forgot the image, as a re-pull after
// `rmi` does. On ext4 without a journal (this machine's disk), the kernel
// will not reuse an inode for a minute after it was freed (six while its
// inode table block is being written), and scans past every such inode for
// each file it creates: where a tool's files land, next to what it or
// anything else just removed or not, can double its pull. -settle lets the
// tools' own removals age before the cold pulls; TMPDIR=/dev/shm puts the
// whole run on tmpfs, where there is no such effect at all.
//
//	go run ./bench/pull [-runs 3] [-layers 5] [-mb 200] [-settle 65s] [-tools strata,docker]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/bench/internal/workdir"
)

func main() {
	runs := flag.Int("runs", 3, "pulls of each kind per tool (the median counts)")
	layers := flag.Int("layers", 5, "layers in the image")
	mb := flag.Int("mb", 200, "megabytes of files in the image")
	settle := flag.Duration("settle", 0, "forget the image with every tool first, then wait this long before the cold pulls")
	only := flag.String("tools", "", "comma-separated tools to run (strata, podman, docker, nobody); all by default")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := options{runs: *runs, layers: *layers, size: int64(*mb) * 1000 * 1000, settle: *settle, tools: *only}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
}

// result is one tool's figures.
type result struct {
	name                 string
	cold, warm           time.Duration // medians
	coldMin, coldMax     time.Duration
	coldBlobs, warmBlobs int64
}

// options are the flags.
type options struct {
	runs, layers int
	size         int64
	settle       time.Duration
	tools        string // comma-separated, "" for all
}

// wants reports whether the tool named key is to run.
func (o options) wants(key string) bool {
	return o.tools == "" || slices.Contains(strings.Split(o.tools, ","), key)
}

func run(ctx context.Context, o options) error {
	runs, layers, size := o.runs, o.layers, o.size
	work, cleanup, err := workdir.New("pull", false)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
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
	cold := "each right after the tool forgot the image"
	if o.settle > 0 {
		cold = fmt.Sprintf("%s after every tool forgot the image", o.settle)
	}
	fmt.Printf("image: %d layers, %d files, %.0f MB of files, %.0f MB compressed; registry: distribution 2.8.2 on loopback; median of %d runs; cold pulls %s\n\n",
		layers, d.files, float64(d.tarBytes)/1e6, float64(d.compressed())/1e6, runs, cold)

	var tools []tool
	makers := []struct {
		key  string
		make func(string) (tool, error)
	}{
		{"strata", func(w string) (tool, error) { return strataTool(bin, w), nil }},
		{"podman", podmanTool},
		{"docker", func(w string) (tool, error) { return dockerTool(ctx, w) }},
		{"nobody", func(w string) (tool, error) { return strataUserTool(bin, w) }},
	}
	for _, mk := range makers {
		if !o.wants(mk.key) {
			continue
		}
		t, err := mk.make(work)
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
	results, err := measure(reg, tools, ref, runs, o.settle)
	if err != nil {
		return err
	}
	report(results)
	return nil
}

// measure times cold pulls (the image forgotten before each) and warm ones,
// the tools taking turns in each round so that whatever else the machine
// does weighs on all of them alike. With settle, every tool forgets the
// image at the start of a round, and the pulls start settle later.
func measure(reg *registry, tools []tool, ref string, runs int, settle time.Duration) ([]result, error) {
	cold := make([][]time.Duration, len(tools))
	warm := make([][]time.Duration, len(tools))
	results := make([]result, len(tools))
	forget := func(t tool) error {
		if err := t.forget(ref); err != nil {
			return fmt.Errorf("%s: forget the image: %w", t.name, err)
		}
		return nil
	}
	for range runs {
		if settle > 0 {
			for _, t := range tools {
				if err := forget(t); err != nil {
					return nil, err
				}
			}
			syscall.Sync()
			time.Sleep(settle)
		}
		for i, t := range tools {
			r := &results[i]
			r.name = t.name
			if settle == 0 {
				if err := forget(t); err != nil {
					return nil, err
				}
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
		results[i].coldMin, results[i].coldMax = slices.Min(cold[i]), slices.Max(cold[i])
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
	fmt.Println("| tool | cold pull | cold, fastest to slowest | warm pull | blob GETs cold / warm |")
	fmt.Println("|---|---|---|---|---|")
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	for _, r := range results {
		fmt.Printf("| %s | %s | %s to %s | %s | %d / %d |\n", r.name, ms(r.cold), ms(r.coldMin), ms(r.coldMax), ms(r.warm), r.coldBlobs, r.warmBlobs)
	}
	fmt.Println()
	if results[0].name != "strata" {
		return
	}
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
