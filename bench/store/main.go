// Command store measures strata's local image store against docker's, side
// by side in one run:
//
//  1. sharing: 10 images over one 50 MiB base layer (plus a small layer of
//     their own) are loaded from one `docker save` archive; the disk each
//     store grows by shows whether the base is kept once;
//  2. latency: with 1,000 images in the store, the wall time of
//     `image ls`, `image history IMAGE` and `image inspect IMAGE`, each a
//     fresh process as a user runs it (the median of -runs).
//
// strata keeps each layer twice on disk when it runs as root: its blob
// (compressed, what push sends) and, unpacked, the snapshot that containers
// run on; docker keeps only the unpacked layer. The table says which is which.
//
// docker is Debian's 20.10, in a private dockerd that this program starts
// and stops (as root, with bench/internal/dockerd); without docker,
// strata's figures are still printed.
//
//	go run ./bench/store [-images 1000] [-runs 15] [-docker=false]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/strata-dev/strata/bench/internal/dockerd"

	"github.com/strata-dev/strata/bench/internal/workdir"
)

func main() {
	images := flag.Int("images", 1000, "images in the store for the latency figures")
	runs := flag.Int("runs", 15, "runs of each command (the median counts)")
	withDocker := flag.Bool("docker", true, "measure docker too (needs root and dockerd)")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *images, *runs, *withDocker, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/store:", err)
		os.Exit(1)
	}
}

// engine is a CLI with its own store: strata with --root, or docker with a
// private dockerd.
type engine struct {
	name  string
	cmd   func(args ...string) *exec.Cmd
	size  func() (int64, error) // bytes its store takes on disk
	parts func() string         // what those bytes are, when it can tell
}

func run(ctx context.Context, images, runs int, withDocker, keep bool) error {
	work, cleanup, err := workdir.New("store", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	// Each engine gets one store for the sharing figures and one for latency.
	sharing := []engine{strataEngine(bin, filepath.Join(work, "strata-sharing"))}
	latency := []engine{strataEngine(bin, filepath.Join(work, "strata-latency"))}
	if withDocker {
		for i, set := range []*[]engine{&sharing, &latency} {
			d, err := dockerd.Start(ctx, filepath.Join(work, fmt.Sprintf("docker-%d", i)))
			if err != nil {
				return fmt.Errorf("%w (or run with -docker=false)", err)
			}
			defer d.Stop()
			*set = append(*set, dockerEngine(d))
		}
	}
	fmt.Printf("machine: %s\n\n", machine())
	if err := measureSharing(work, sharing); err != nil {
		return err
	}
	return measureLatency(work, latency, images, runs)
}

// measureSharing loads 10 images over one 50 MiB base into each engine and
// prints how much its store grew.
func measureSharing(work string, engines []engine) error {
	shared := filepath.Join(work, "shared.tar")
	if err := writeArchive(shared, sharingImages()); err != nil {
		return err
	}
	fmt.Println("## 10 images sharing a 50 MiB base layer (500 MiB if nothing were shared)")
	fmt.Println()
	fmt.Println("| engine | store grew by | per image | of which | load time |")
	fmt.Println("|---|---|---|---|---|")
	for _, e := range engines {
		before, err := e.size()
		if err != nil {
			return err
		}
		took, err := timed(e.cmd("load", "-q", "-i", shared))
		if err != nil {
			return fmt.Errorf("%s load: %w", e.name, err)
		}
		after, err := e.size()
		if err != nil {
			return err
		}
		grew := after - before
		parts := ""
		if e.parts != nil {
			parts = e.parts()
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", e.name, mib(grew), mib(grew/10), parts, took.Round(time.Millisecond))
	}
	fmt.Println()
	return nil
}

// measureLatency loads n images into each engine, then times ls, history
// and inspect, and prints them side by side with the ratio.
func measureLatency(work string, engines []engine, n, runs int) error {
	many := filepath.Join(work, "many.tar")
	if err := writeArchive(many, manyImages(n)); err != nil {
		return err
	}
	target := fmt.Sprintf("bench/img-%d:1", n/2)
	commands := [][]string{{"image", "ls"}, {"image", "history", target}, {"image", "inspect", target}}
	fmt.Printf("## latency with %d images in the store (median of %d runs, each a new process)\n\n", n, runs)
	results := make([][]time.Duration, len(engines))
	header, sep := "| command |", "|---|"
	for i, e := range engines {
		header, sep = header+" "+e.name+" |", sep+"---|"
		took, err := timed(e.cmd("load", "-q", "-i", many))
		if err != nil {
			return fmt.Errorf("%s load: %w", e.name, err)
		}
		fmt.Printf("(%s loaded %d images in %s)\n", e.name, n, took.Round(time.Millisecond))
		for _, c := range commands {
			m, err := median(runs, func() *exec.Cmd { return e.cmd(c...) })
			if err != nil {
				return fmt.Errorf("%s %s: %w", e.name, strings.Join(c, " "), err)
			}
			results[i] = append(results[i], m)
		}
	}
	if len(engines) == 2 {
		header, sep = header+" strata / docker |", sep+"---|"
	}
	fmt.Printf("\n%s\n%s\n", header, sep)
	for j, c := range commands {
		line := "| `" + strings.Join(c, " ") + "` |"
		for i := range engines {
			line += " " + ms(results[i][j]) + " |"
		}
		if len(engines) == 2 {
			line += fmt.Sprintf(" %.2f |", float64(results[0][j])/float64(results[1][j]))
		}
		fmt.Println(line)
	}
	return nil
}

func strataEngine(bin, root string) engine {
	return engine{
		name: "strata",
		cmd:  func(args ...string) *exec.Cmd { return exec.Command(bin, append([]string{"--root", root}, args...)...) },
		size: func() (int64, error) { return du(root) },
		parts: func() string {
			blobs, _ := du(filepath.Join(root, "content"))
			unpacked, _ := du(filepath.Join(root, "snapshots"))
			return fmt.Sprintf("blobs %s, unpacked layers %s", mib(blobs), mib(unpacked))
		},
	}
}

// timed runs cmd and returns how long it took.
func timed(cmd *exec.Cmd) (time.Duration, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return time.Since(start), nil
}

// median runs a command runs times (after one warm-up) and returns the median time.
func median(runs int, cmd func() *exec.Cmd) (time.Duration, error) {
	if _, err := timed(cmd()); err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		d, err := timed(cmd())
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

// du is the bytes the files under dir take (apparent size, hard links once).
func du(dir string) (int64, error) {
	out, err := exec.Command("du", "-s", "-b", dir).Output()
	if err != nil {
		if _, serr := os.Stat(dir); os.IsNotExist(serr) {
			return 0, nil
		}
		return 0, fmt.Errorf("du %s: %w", dir, err)
	}
	var n int64
	fmt.Sscan(string(out), &n)
	return n, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ": ")
				break
			}
		}
	}
	n := 0
	if b, err := exec.Command("nproc").Output(); err == nil {
		fmt.Sscan(string(b), &n)
	}
	return fmt.Sprintf("%s, %d cores", cpu, n)
}
