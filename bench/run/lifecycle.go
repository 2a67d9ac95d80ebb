package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lifecycle measures what a docker user does with running containers,
// side by side: exec latency, run -d -p until the port answers, stats
// --no-stream over 20 containers, and the disk and memory of idle ones.
func lifecycle(ctx context.Context, engines []engine, work string, runs, idle int) error {
	if err := execLatency(ctx, engines, runs); err != nil {
		return err
	}
	if err := publishLatency(ctx, engines, runs/3+1); err != nil {
		return err
	}
	if err := statsLatency(ctx, engines, 20, runs/3+1); err != nil {
		return err
	}
	return idleCost(ctx, engines, work, idle)
}

// netArgs are the network flags each engine's containers get: strata's
// default network; podman and docker without one, as in the run benchmark
// (their default bridges would change the host's firewall here).
func netArgs(e engine) []string {
	if e.name == "strata" {
		return nil
	}
	return []string{"--network", "none"}
}

func must(e engine, args ...string) (string, error) {
	out, err := e.cmd(args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", e.name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// timed runs fn for each engine in turn, runs times after a warm-up.
func timed(ctx context.Context, engines []engine, runs int, fn func(e engine) (time.Duration, error)) (map[string][]time.Duration, error) {
	times := map[string][]time.Duration{}
	for i := -1; i < runs; i++ {
		for _, e := range engines {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			d, err := fn(e)
			if err != nil {
				return nil, err
			}
			if i >= 0 {
				times[e.name] = append(times[e.name], d)
			}
		}
	}
	return times, nil
}

func table(title string, engines []engine, times map[string][]time.Duration) {
	fmt.Printf("\n%s (median, p90):\n\n| engine | median | p90 | time / strata's |\n|---|---|---|---|\n", title)
	base := median(times["strata"])
	for _, e := range engines {
		if ts := times[e.name]; len(ts) > 0 {
			m := median(ts)
			fmt.Printf("| %s | %s | %s | %.2fx |\n", e.name, ms(m), ms(percentile(ts, 0.9)), float64(m)/float64(base))
		}
	}
}

func execLatency(ctx context.Context, engines []engine, runs int) error {
	for _, e := range engines {
		if _, err := must(e, append(append([]string{"run", "-d", "--name", "bench-exec"}, netArgs(e)...), image, "/bin/sleep", "3600")...); err != nil {
			return err
		}
		defer must(e, "rm", "-f", "bench-exec")
	}
	times, err := timed(ctx, engines, runs, func(e engine) (time.Duration, error) {
		start := time.Now()
		_, err := must(e, "exec", "bench-exec", "/bin/true")
		return time.Since(start), err
	})
	if err != nil {
		return err
	}
	table("`exec CONTAINER true`, start to exit", engines, times)
	return nil
}

// publishLatency times `run -d -p 127.0.0.1:PORT:8080 ... httpd` until an
// HTTP request through the published port is answered. docker is left out:
// its -p needs its bridge and iptables, which would change the host's
// firewall here; podman publishes through slirp4netns, as strata does.
func publishLatency(ctx context.Context, engines []engine, runs int) error {
	var peers []engine
	for _, e := range engines {
		if e.name != "docker" {
			peers = append(peers, e)
		}
	}
	times, err := timed(ctx, peers, runs, func(e engine) (time.Duration, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		args := []string{"run", "-d", "--name", "bench-web", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port)}
		if e.name == "podman" {
			args = append(args, "--network", "slirp4netns:port_handler=slirp4netns")
		}
		start := time.Now()
		if _, err := must(e, append(args, image, "/bin/httpd", "-f", "-p", "8080", "-h", "/")...); err != nil {
			return 0, err
		}
		defer must(e, "rm", "-f", "bench-web")
		client := http.Client{Timeout: time.Second}
		for time.Since(start) < 30*time.Second {
			if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
				resp.Body.Close()
				return time.Since(start), nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		return 0, fmt.Errorf("%s: the published port did not answer in 30 s", e.name)
	})
	if err != nil {
		return err
	}
	table("`run -d -p 127.0.0.1:PORT:8080 IMAGE httpd` until the port answers (docker: see above)", peers, times)
	return nil
}

func statsLatency(ctx context.Context, engines []engine, n, runs int) error {
	for _, e := range engines {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("bench-stats-%d", i)
			if _, err := must(e, append(append([]string{"run", "-d", "--name", name}, netArgs(e)...), image, "/bin/sleep", "3600")...); err != nil {
				return err
			}
			defer must(e, "rm", "-f", name)
		}
	}
	times, err := timed(ctx, engines, runs, func(e engine) (time.Duration, error) {
		start := time.Now()
		out, err := must(e, "stats", "--no-stream")
		if err == nil && strings.Count(out, "bench-stats-") != n {
			err = fmt.Errorf("%s stats --no-stream shows %d of %d containers", e.name, strings.Count(out, "bench-stats-"), n)
		}
		return time.Since(start), err
	})
	if err != nil {
		return err
	}
	table(fmt.Sprintf("`stats --no-stream` over %d running containers", n), engines, times)
	return nil
}

// idleCost starts idle containers in each engine and measures the disk its
// store grew by and the memory (PSS) of every process that keeps them: the
// containers' own, and strata's monitors, runc and slirp4netns, podman's
// conmon, docker's containerd-shim.
func idleCost(ctx context.Context, engines []engine, work string, n int) error {
	fmt.Printf("\n%d idle containers (`sleep 3600`) per engine:\n\n| engine | memory (PSS) | per container | disk | per container |\n|---|---|---|---|---|\n", n)
	for _, e := range engines {
		before, _ := du(filepath.Join(work, storeDir(e.name)))
		for i := 0; i < n; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			name := fmt.Sprintf("bench-idle-%d", i)
			if _, err := must(e, append(append([]string{"run", "-d", "--name", name}, netArgs(e)...), image, "/bin/sleep", "3600")...); err != nil {
				return err
			}
		}
		time.Sleep(2 * time.Second) // let start-up allocations settle
		mem := pss(e.name, work)
		after, _ := du(filepath.Join(work, storeDir(e.name)))
		disk := after - before
		fmt.Printf("| %s | %.1f MiB | %.0f KiB | %.1f MiB | %.0f KiB |\n", e.name, float64(mem)/(1<<20), float64(mem)/1024/float64(n),
			float64(disk)/(1<<20), float64(disk)/1024/float64(n))
		var names []string
		for i := 0; i < n; i++ {
			names = append(names, fmt.Sprintf("bench-idle-%d", i))
		}
		must(e, append([]string{"rm", "-f"}, names...)...)
	}
	return nil
}

func storeDir(engine string) string {
	return map[string]string{"strata": "strata-root", "podman": "podman", "docker": "docker"}[engine]
}

// pss sums the proportional set size of the processes that keep an
// engine's containers, and of every process under them.
func pss(engine, work string) int64 {
	parent := map[int]int{}
	cmdline := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 2 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
		c, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		cmdline[pid] = strings.ReplaceAll(string(c), "\x00", " ")
	}
	keeper := func(pid int) bool {
		c := cmdline[pid]
		switch engine {
		case "strata":
			return strings.Contains(c, filepath.Join(work, "strata-root")) && (strings.Contains(c, " monitor ") || strings.Contains(c, "runc")) ||
				strings.Contains(c, "slirp4netns") && strings.Contains(c, filepath.Join(work, "strata-root"))
		case "podman":
			return strings.HasPrefix(c, "/usr/bin/conmon") && strings.Contains(c, filepath.Join(work, "podman"))
		case "docker":
			return strings.Contains(c, "containerd-shim") && strings.Contains(c, filepath.Join(work, "docker"))
		}
		return false
	}
	var total int64
	for pid := range cmdline {
		for p := pid; p > 1; p = parent[p] {
			if keeper(p) {
				total += pssOf(pid)
				break
			}
		}
	}
	return total
}

func pssOf(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n * 1024
		}
	}
	return 0
}
