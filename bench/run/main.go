// Command run measures `strata run --rm IMAGE true` from start to exit
// against `podman run --rm` and `docker run --rm` of the same image, side by
// side in one run, and the disk that 20 containers of one image take when
// each writes 1 KiB.
//
// The image is a busybox root file system (Debian's busybox-static and a
// symlink per applet), imported into each engine's own store. Every engine
// runs it with --network none (strata's default; docker here runs without
// its bridge, see shared/peers), each run a fresh process as a user runs
// it, the engines taking turns so that the machine's noise falls on all
// alike. docker is Debian's 20.10 in a private dockerd that this program
// starts and stops (bench/internal/dockerd); podman is Debian's 4.3 with a private store. Needs root.
//
// Then, with running containers: exec latency, run -d -p until the port
// answers, stats --no-stream over 20 containers, and the disk and memory
// (PSS) of -idle idle containers (lifecycle.go). strata is built as
// deploy/image/build.sh builds it, static (CGO_ENABLED=0).
//
//	go run ./bench/run [-runs 30] [-idle 100] [-docker=true] [-podman=true]
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
	"github.com/strata-dev/strata/bench/internal/rootfs"

	"github.com/strata-dev/strata/bench/internal/workdir"
)

func main() {
	runs := flag.Int("runs", 30, "timed runs per engine (after one warm-up run each)")
	withDocker := flag.Bool("docker", true, "measure docker too")
	withPodman := flag.Bool("podman", true, "measure podman too")
	keep := flag.Bool("keep", false, "keep the work directory")
	idle := flag.Int("idle", 100, "idle containers per engine for the disk and memory figures; 0 leaves the lifecycle part out")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *runs, *withDocker, *withPodman, *keep, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

// engine is a container CLI with a store of its own holding the image.
type engine struct {
	name string
	cmd  func(args ...string) *exec.Cmd
	stop func()
}

const image = "busybox:bench"

func run(ctx context.Context, runs int, withDocker, withPodman, keep bool, idle int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("containers need root: run it as root")
	}
	work, cleanup, err := workdir.New("run", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	base, err := rootfs.BusyboxTar(work)
	if err != nil {
		return err
	}
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	engines := []engine{strataEngine(bin, filepath.Join(work, "strata-root"), "")}
	if withPodman {
		p, err := podmanEngine(work)
		if err != nil {
			return err
		}
		engines = append(engines, p)
	}
	if withDocker {
		d, err := dockerd.Start(ctx, filepath.Join(work, "docker"))
		if err != nil {
			return err
		}
		engines = append(engines, dockerEngine(d))
	}
	defer func() {
		for _, e := range engines {
			if e.stop != nil {
				e.stop()
			}
		}
	}()
	for _, e := range engines {
		if out, err := e.cmd("import", base, image).CombinedOutput(); err != nil {
			return fmt.Errorf("%s import: %v\n%s", e.name, err, out)
		}
	}
	times, err := timeRuns(ctx, engines, runs)
	if err != nil {
		return err
	}
	report(engines, times, runs)
	if idle > 0 {
		if err := lifecycle(ctx, engines, work, runs, idle); err != nil {
			return err
		}
	}
	return disk(ctx, bin, work, base)
}

// runArgs is the command every engine runs, after its own name.
var runArgs = []string{"run", "--rm", "--network", "none", image, "true"}

// timeRuns times runs of each engine, taking turns, after a warm-up run each.
func timeRuns(ctx context.Context, engines []engine, runs int) (map[string][]time.Duration, error) {
	times := map[string][]time.Duration{}
	for i := -1; i < runs; i++ {
		for _, e := range engines {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			cmd := e.cmd(runArgs...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v\n%s", e.name, strings.Join(runArgs, " "), err, out)
			}
			if i >= 0 {
				times[e.name] = append(times[e.name], d)
			}
		}
	}
	return times, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// report prints each engine's median and p90, and how many times slower
// than strata it is.
func report(engines []engine, times map[string][]time.Duration, runs int) {
	fmt.Printf("\n`%s` start to exit, %d runs each (median, p90):\n\n", "ENGINE "+strings.Join(runArgs, " "), runs)
	fmt.Println("| engine | median | p90 | time / strata's |")
	fmt.Println("|---|---|---|---|")
	base := median(times["strata"])
	fastestPeer := time.Duration(0)
	for _, e := range engines {
		m := median(times[e.name])
		fmt.Printf("| %s | %s | %s | %.2fx |\n", e.name, ms(m), ms(percentile(times[e.name], 0.9)), float64(m)/float64(base))
		if e.name != "strata" && (fastestPeer == 0 || m < fastestPeer) {
			fastestPeer = m
		}
	}
	if fastestPeer > 0 {
		fmt.Printf("\nstrata is %.1fx faster than the faster of the others.\n", float64(fastestPeer)/float64(base))
	}
}
