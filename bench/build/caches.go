package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// mountDockerfile has a package-style step: it "installs" 40 packages of
// 2 MiB into a RUN --mount=type=cache directory (made the first time,
// found there after), then builds the sources copied before it, so a
// one-line source change runs it again.
const mountDockerfile = `FROM BASE
COPY src/ /app/src/
RUN --mount=type=cache,target=/var/cache/pkgs i=0; while [ $i -lt 40 ]; do p=/var/cache/pkgs/p$i; [ -f $p ] || { head -c 2097152 /dev/urandom > $p.tmp && sha256sum $p.tmp > /dev/null && mv $p.tmp $p; }; i=$((i+1)); done; cat /var/cache/pkgs/p1 | head -c 65536 > /app/deps && cat /app/src/*.txt | wc -c > /app/size && echo built >> /app/size
CMD ["cat", "/app/size"]
`

// hubDockerfile is a build whose RUN steps take a while and make 24 MiB
// of layers: what --cache-from saves a fresh machine from running. (The
// busybox base has no /opt: the step makes it, and fails if a blob is not
// written.)
const hubDockerfile = `FROM BASE
RUN set -e; mkdir -p /opt; i=0; while [ $i -lt 12 ]; do head -c 2097152 /dev/urandom > /opt/blob$i; sha256sum /opt/blob$i >> /opt/sums; i=$((i+1)); done
COPY src/ /app/src/
RUN cat /app/src/*.txt | sha256sum > /app/sum && i=0; while [ $i -lt 200 ]; do cat /opt/sums | sha256sum > /dev/null; i=$((i+1)); done
CMD ["cat", "/app/sum"]
`

// writeSourceContext writes a context like the main one with another
// Dockerfile.
func writeSourceContext(work, name, dockerfile string) (string, error) {
	dir, err := writeContext(filepath.Join(work, name))
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
}

// editSource changes one line of the first source file.
func editSource(dir string, n int) error {
	f, err := os.OpenFile(filepath.Join(dir, "src", "f00.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "edit %d\n", n)
	return err
}

// measureCacheMount times, for each engine, a build after a one-line
// source change with a warm RUN --mount=type=cache, engines taking turns.
func measureCacheMount(ctx context.Context, engines []engine, work, base string, runs int) (map[string][]time.Duration, error) {
	dir, err := writeSourceContext(work, "mount", replaceBase(mountDockerfile, base))
	if err != nil {
		return nil, err
	}
	for _, e := range engines { // warm-up: the cache directory fills
		if out, err := e.cmd(e.build(dir, false)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: RUN --mount=type=cache build: %v\n%s", e.name, err, out)
		}
	}
	times := map[string][]time.Duration{}
	for i := 0; i < runs; i++ {
		if err := editSource(dir, i); err != nil {
			return nil, err
		}
		for _, e := range engines {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			start := time.Now()
			if out, err := e.cmd(e.build(dir, false)...).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v\n%s", e.name, err, out)
			}
			times[e.name] = append(times[e.name], time.Since(start))
		}
	}
	return times, nil
}

// hubBase starts a strata hub and pushes the busybox base to it from a
// store of its own; it returns the hub's address, the base's name there,
// and how to stop the hub.
func hubBase(ctx context.Context, bin, work, baseTar string) (string, string, func(), error) {
	hub, stop, err := startHub(ctx, bin, work)
	if err != nil {
		return "", "", nil, err
	}
	base := hub + "/library/busybox:bench"
	seed := filepath.Join(work, "hub-seed")
	for _, args := range [][]string{{"import", baseTar, base}, {"push", base}} {
		if err := strataIn(ctx, bin, seed, args...); err != nil {
			stop()
			return "", "", nil, err
		}
	}
	return hub, base, stop, nil
}

func strataIn(ctx context.Context, bin, root string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, append([]string{"--root", root}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("strata %v: %v\n%s", args, err, out)
	}
	return nil
}

// measureCacheFrom times strata building hubDockerfile on a fresh store
// (its base pulled from the hub), cold and with --cache-from the cache an
// earlier build pushed to the hub, taking turns.
func measureCacheFrom(ctx context.Context, bin, work, hub, base string, runs int) (cold, cached []time.Duration, err error) {
	cacheRef := hub + "/team/app:buildcache"
	dir, err := writeSourceContext(work, "hub", replaceBase(hubDockerfile, base))
	if err != nil {
		return nil, nil, err
	}
	if err := strataIn(ctx, bin, filepath.Join(work, "hub-seed"), "build", "-q", "--network", "none", "--cache-to", "type=registry,ref="+cacheRef, dir); err != nil {
		return nil, nil, err
	}
	for i := 0; i < runs; i++ {
		for _, from := range []bool{false, true} {
			root := filepath.Join(work, fmt.Sprintf("fresh-%d-%v", i, from))
			args := []string{"build", "-q", "--network", "none", "-t", "app:1"}
			if from {
				args = append(args, "--cache-from", "type=registry,ref="+cacheRef)
			}
			start := time.Now()
			if err := strataIn(ctx, bin, root, append(args, dir)...); err != nil {
				return nil, nil, err
			}
			if from {
				cached = append(cached, time.Since(start))
			} else {
				cold = append(cold, time.Since(start))
			}
			os.RemoveAll(root)
		}
	}
	return cold, cached, nil
}

func replaceBase(dockerfile, base string) string {
	return "FROM " + base + dockerfile[len("FROM BASE"):]
}

// startHub starts `strata hub serve --open` on a free loopback port.
func startHub(ctx context.Context, bin, work string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(work, "hub.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "hub", "serve", "--open", "--addr", addr, "--data-dir", filepath.Join(work, "hub-data"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() }
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("the hub did not start: see %s", filepath.Join(work, "hub.log"))
}
