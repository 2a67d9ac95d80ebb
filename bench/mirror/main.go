// Command mirror measures the hub's pull-through cache: a real `strata hub
// serve` upstream, and a second one mirroring it at the root (as docker's
// registry-mirrors asks). Each round pushes a new image of -layers layers
// of -layer-mib MiB to the upstream, then pulls it (manifest, config and
// every layer, digests checked by go-containerregistry):
//
//   - direct from the upstream (the floor),
//   - through the mirror, cold (the mirror fetches from the upstream),
//   - through the mirror, warm (within the tag's TTL: no upstream request),
//   - and, for another new image, two clients through the mirror, the
//     second starting while the first is still filling the cache.
//
// Everything runs on one machine over loopback, so the upstream costs no
// network time: the cold figure is the mirror's own overhead (fetch, hash,
// store, then serve), the most a real upstream's distance can hide.
//
//	go run ./bench/mirror [-rounds 3] [-layers 4] [-layer-mib 16] [-keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-dev/strata/bench/internal/hubproc"
	"github.com/strata-dev/strata/bench/internal/workdir"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds, each with new images")
	layers := flag.Int("layers", 4, "layers per image")
	layerMiB := flag.Int("layer-mib", 16, "MiB per layer")
	keep := flag.Bool("keep", false, "keep the work directory (data and logs)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rounds, *layers, *layerMiB, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/mirror:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rounds, layers, layerMiB int, keep bool) error {
	work, cleanup, err := workdir.New("mirror", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	upAddr, mirrorAddr := workdir.FreeAddr(), workdir.FreeAddr()
	up, err := serve(ctx, bin, work, "upstream", upAddr, "")
	if err != nil {
		return err
	}
	defer up.Stop()
	cfg := filepath.Join(work, "mirror.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[[mirror]]\nurl = \"http://%s\"\nprefix = \"docker.io\"\nroot = true\n", upAddr)), 0o644); err != nil {
		return err
	}
	mir, err := serve(ctx, bin, work, "mirror", mirrorAddr, cfg)
	if err != nil {
		return err
	}
	defer mir.Stop()

	size := float64(layers * layerMiB)
	fmt.Printf("images of %d x %d MiB; %d rounds; load average before: %s\n", layers, layerMiB, rounds, workdir.LoadAverage())
	times := map[string][]time.Duration{}
	for round := range rounds {
		img, err := random.Image(int64(layerMiB)<<20, int64(layers))
		if err != nil {
			return err
		}
		ref := fmt.Sprintf("library/app:r%d", round)
		if err := remote.Write(mustRef(upAddr+"/"+ref), img); err != nil {
			return fmt.Errorf("push to the upstream: %w", err)
		}
		for _, step := range []struct{ label, addr string }{
			{"direct from the upstream", upAddr}, {"through the mirror, cold", mirrorAddr}, {"through the mirror, warm", mirrorAddr},
		} {
			d, err := pull(step.addr + "/" + ref)
			if err != nil {
				return fmt.Errorf("%s: %w", step.label, err)
			}
			times[step.label] = append(times[step.label], d)
		}
		// Two clients: the second starts 100 ms after the first, while
		// the first is still filling the cache.
		img2, err := random.Image(int64(layerMiB)<<20, int64(layers))
		if err != nil {
			return err
		}
		ref2 := fmt.Sprintf("library/two:r%d", round)
		if err := remote.Write(mustRef(upAddr+"/"+ref2), img2); err != nil {
			return err
		}
		var wg sync.WaitGroup
		var d1, d2 time.Duration
		var e1, e2 error
		wg.Add(2)
		go func() { defer wg.Done(); d1, e1 = pull(mirrorAddr + "/" + ref2) }()
		time.Sleep(100 * time.Millisecond)
		go func() { defer wg.Done(); d2, e2 = pull(mirrorAddr + "/" + ref2) }()
		wg.Wait()
		if e1 != nil || e2 != nil {
			return fmt.Errorf("two clients: %v, %v", e1, e2)
		}
		times["two clients: the first (filling)"] = append(times["two clients: the first (filling)"], d1)
		times["two clients: the second (100 ms later)"] = append(times["two clients: the second (100 ms later)"], d2)
		fmt.Printf("round %d done\n", round+1)
	}
	fmt.Printf("\nmedians of %d rounds, %.0f MiB an image; load average after: %s\n\n", rounds, size, workdir.LoadAverage())
	direct := median(times["direct from the upstream"])
	fmt.Printf("| pull | time | MB/s | vs direct |\n|---|---:|---:|---:|\n")
	for _, label := range []string{"direct from the upstream", "through the mirror, cold", "through the mirror, warm",
		"two clients: the first (filling)", "two clients: the second (100 ms later)"} {
		m := median(times[label])
		fmt.Printf("| %s | %d ms | %.0f | %.2fx |\n", label, m.Milliseconds(), size*(1<<20)/1e6/m.Seconds(), float64(m)/float64(direct))
	}
	return nil
}

func mustRef(s string) name.Reference {
	r, err := name.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}

// pull fetches ref's manifest, config and layers, and says how long it took.
func pull(ref string) (time.Duration, error) {
	start := time.Now()
	img, err := remote.Image(mustRef(ref))
	if err != nil {
		return 0, err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return 0, err
	}
	ls, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func(i int, l v1.Layer) { // as docker does: layers at once
			defer wg.Done()
			rc, err := l.Compressed()
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			errs[i] = err
		}(i, l)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// serve starts an open hub named label (its data and log in work), with
// config if given.
func serve(ctx context.Context, bin, work, label, addr, config string) (*hubproc.Hub, error) {
	args := []string{"--open", "--data-dir", filepath.Join(work, label), "--gc-interval", "-1s"}
	if config != "" {
		args = append(args, "--config", config)
	}
	return hubproc.Start(ctx, bin, filepath.Join(work, label+".log"), addr, args...)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
