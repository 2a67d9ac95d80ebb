// Command build measures `strata build` against `docker build` (Debian's
// 20.10, its classic builder, and BuildKit) and `podman build` (4.3) of
// the same 6-step Dockerfile on the same busybox base, side by side in one
// run: cold (--no-cache: every step runs, the base is there) and with
// every step cached (nothing changed since the last build). Then two
// builds of issue 15: a RUN --mount=type=cache package-style step after a
// one-line source change, strata against docker's BuildKit and a current
// buildkitd, its base from a strata hub; and a build
// on a fresh store whose base comes from a strata hub, cold against one
// that imports its cache from the hub with --cache-from.
//
// Each engine has a store of its own holding the base image (imported from
// a busybox root file system, Debian's busybox-static); every build is a
// fresh process as a user runs it, with RUN steps on --network none; the
// engines take turns so that the machine's noise falls on all alike.
// docker runs in a private dockerd that this program starts and stops
// (bench/internal/dockerd). Needs root.
//
//	go run ./bench/build [-runs 10] [-cold-runs 5] [-mount-runs 5] [-hub-runs 3] [-docker=true] [-podman=true] [-buildkit=true]
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

// dockerfile is the build measured: six steps as docker counts them.
const dockerfile = `FROM busybox:bench
ENV APP=bench
WORKDIR /app
COPY src/ /app/src/
RUN cat /app/src/*.txt | wc -c > /app/size && echo built >> /app/size
CMD ["cat", "/app/size"]
`

// engine is a build CLI with a store of its own.
type engine struct {
	name  string
	cmd   func(args ...string) *exec.Cmd
	build func(ctx string, noCache bool) []string // the build command's arguments
	stop  func()
}

func main() {
	runs := flag.Int("runs", 10, "timed cached builds per engine (after a warm-up build)")
	coldRuns := flag.Int("cold-runs", 5, "timed --no-cache builds per engine")
	withDocker := flag.Bool("docker", true, "measure docker too")
	withPodman := flag.Bool("podman", true, "measure podman too")
	withBuildKit := flag.Bool("buildkit", true, "measure a current buildkitd too (from .tools/bin) in the RUN --mount build")
	mountRuns := flag.Int("mount-runs", 5, "timed RUN --mount=type=cache builds after a source change, per engine")
	hubRuns := flag.Int("hub-runs", 3, "timed fresh-store builds, cold and with --cache-from, each")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, counts{*runs, *coldRuns, *mountRuns, *hubRuns}, *withDocker, *withPodman, *withBuildKit); err != nil {
		fmt.Fprintln(os.Stderr, "bench/build:", err)
		os.Exit(1)
	}
}

// counts are how many timed builds of each kind.
type counts struct{ cached, cold, mount, hub int }

func run(ctx context.Context, n counts, withDocker, withPodman, withBuildKit bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("builds run containers, which needs root: run it as root")
	}
	work, cleanup, err := workdir.New("build", false)
	if err != nil {
		return err
	}
	defer cleanup()
	base, err := rootfs.BusyboxTar(work)
	if err != nil {
		return err
	}
	buildCtx, err := writeContext(work)
	if err != nil {
		return err
	}
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	engines := []engine{strataEngine(bin, filepath.Join(work, "strata-root"))}
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
		engines = append(engines, dockerEngine(d, "docker", "0", d.Stop), dockerEngine(d, "docker (BuildKit)", "1", nil))
	}
	defer func() {
		for _, e := range engines {
			if e.stop != nil {
				e.stop()
			}
		}
	}()
	for _, e := range engines {
		if err := e.setup(base, buildCtx); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	cold, err := measure(ctx, engines, buildCtx, true, n.cold)
	if err != nil {
		return err
	}
	cached, err := measure(ctx, engines, buildCtx, false, n.cached)
	if err != nil {
		return err
	}
	report(engines, cold, cached)
	hub, hubImage, stopHub, err := hubBase(ctx, bin, work, base)
	if err != nil {
		return err
	}
	defer stopHub()
	var mountEngines []engine // the engines whose RUN takes --mount
	for _, e := range engines {
		if e.name == "strata" || e.name == "docker (BuildKit)" {
			mountEngines = append(mountEngines, e)
		}
	}
	if withBuildKit {
		bk, err := buildkitEngine(ctx, work, hub)
		if err != nil {
			return err
		}
		defer bk.stop()
		mountEngines = append(mountEngines, bk)
	}
	mounts, err := measureCacheMount(ctx, mountEngines, work, hubImage, n.mount)
	if err != nil {
		return err
	}
	hubCold, hubCached, err := measureCacheFrom(ctx, bin, work, hub, hubImage, n.hub)
	if err != nil {
		return err
	}
	reportCaches(mountEngines, mounts, hubCold, hubCached)
	return nil
}

// reportCaches prints the two builds of issue 15 as Markdown.
func reportCaches(engines []engine, mounts map[string][]time.Duration, hubCold, hubCached []time.Duration) {
	base := median(mounts["strata"])
	fmt.Printf("\n| RUN --mount=type=cache, after a one-line change | median | / strata's |\n|---|---|---|\n")
	for _, e := range engines {
		m := median(mounts[e.name])
		fmt.Printf("| %s | %s | %.2fx |\n", e.name, ms(m), float64(m)/float64(base))
	}
	c, k := median(hubCold), median(hubCached)
	fmt.Printf("\n| strata, fresh store, base from the hub | median |\n|---|---|\n| cold | %s |\n| --cache-from the hub | %s |\n", ms(c), ms(k))
	fmt.Printf("\n--cache-from makes the fresh build %.1fx faster than building it cold.\n", float64(c)/float64(k))
}

// setup imports the base and checks that the Dockerfile builds and runs.
func (e engine) setup(rootfs, buildCtx string) error {
	if out, err := e.cmd("import", rootfs, "busybox:bench").CombinedOutput(); err != nil {
		return fmt.Errorf("import: %v\n%s", err, out)
	}
	if out, err := e.cmd(e.build(buildCtx, true)...).CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	out, err := e.cmd("run", "--rm", "--network", "none", "bench:img").CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "built\n") {
		return fmt.Errorf("run the built image: %v\n%s", err, out)
	}
	return nil
}

// measure times runs builds by each engine, taking turns.
func measure(ctx context.Context, engines []engine, buildCtx string, noCache bool, runs int) (map[string][]time.Duration, error) {
	times := map[string][]time.Duration{}
	for i := 0; i < runs; i++ {
		for _, e := range engines {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cmd := e.cmd(e.build(buildCtx, noCache)...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("%s build: %v\n%s", e.name, err, out)
			}
			times[e.name] = append(times[e.name], time.Since(start))
		}
	}
	return times, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// report prints a Markdown table: medians, and each engine's time over
// strata's.
func report(engines []engine, cold, cached map[string][]time.Duration) {
	base, baseCold := median(cached["strata"]), median(cold["strata"])
	fmt.Printf("| engine | cold (--no-cache) | cold / strata's | all cached | cached / strata's |\n|---|---|---|---|---|\n")
	fastest := time.Duration(0)
	for _, e := range engines {
		c, k := median(cold[e.name]), median(cached[e.name])
		fmt.Printf("| %s | %s | %.2fx | %s | %.2fx |\n", e.name, ms(c), float64(c)/float64(baseCold), ms(k), float64(k)/float64(base))
		if e.name != "strata" && (fastest == 0 || k < fastest) {
			fastest = k
		}
	}
	if fastest > 0 {
		fmt.Printf("\nA fully cached rebuild with strata is %.1fx faster than the fastest of the others.\n", float64(fastest)/float64(base))
	}
}
