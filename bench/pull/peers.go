package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strata-dev/strata/bench/internal/dockerd"
	"github.com/strata-dev/strata/bench/internal/podman"
)

// registry is distribution 2.8.2 (Debian's docker-registry) behind a proxy
// that counts blob downloads, so that "a warm pull moves no blob" is measured.
type registry struct {
	addr  string // the proxy's host:port
	proc  *exec.Cmd
	proxy *httptest.Server
	blobs atomic.Int64 // GETs of blobs through the proxy
}

func startRegistry(ctx context.Context, work string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry (distribution 2.8.2) is not installed: apt-get install docker-registry")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	backend := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(work, "registry-data"), backend)
	cfgPath := filepath.Join(work, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	r := &registry{proc: exec.CommandContext(ctx, bin, "serve", cfgPath)}
	r.proc.Stdout, r.proc.Stderr = os.Stderr, os.Stderr
	if err := r.proc.Start(); err != nil {
		return nil, err
	}
	if !waitFor(func() bool {
		resp, err := http.Get("http://" + backend + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		r.stop()
		return nil, fmt.Errorf("docker-registry did not start")
	}
	target := &url.URL{Scheme: "http", Host: backend}
	r.proxy = httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			if pr.In.Method == http.MethodGet && strings.Contains(pr.In.URL.Path, "/blobs/sha256:") {
				r.blobs.Add(1)
			}
		},
	})
	r.addr = strings.TrimPrefix(r.proxy.URL, "http://")
	return r, nil
}

func (r *registry) stop() {
	if r.proxy != nil {
		r.proxy.Close()
	}
	r.proc.Process.Signal(os.Interrupt)
	r.proc.Wait()
}

func waitFor(ok func() bool) bool {
	for range 300 {
		if ok() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// tool is one client under test: how to pull, and how to forget the image
// so that the next pull is cold.
type tool struct {
	name   string
	pull   func(ref string) *exec.Cmd
	forget func(ref string) error
	stop   func()
}

// strataTool pulls with a store of its own, forgotten by removing it. As
// root it unpacks the layers into snapshots, as docker and podman do.
func strataTool(bin, work string) tool {
	root := filepath.Join(work, "strata-root")
	return tool{
		name:   "strata",
		pull:   func(ref string) *exec.Cmd { return exec.Command(bin, "--root", root, "pull", "-q", ref) },
		forget: func(string) error { return os.RemoveAll(root) },
		stop:   func() { os.RemoveAll(root) },
	}
}

// strataUserTool is strata run by an unprivileged user (nobody), which
// stores and verifies the layers but cannot mount, so does not unpack them:
// the cost of a pull without the files written out, for comparison.
func strataUserTool(bin, work string) (tool, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		return tool{}, fmt.Errorf("strata as nobody needs root and setpriv")
	}
	dir := filepath.Join(work, "strata-user")
	root := filepath.Join(dir, "root")
	prepare := func() error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.Chown(dir, 65534, 65534)
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return tool{}, err
	}
	return tool{
		name: "strata, not root (no unpack)",
		pull: func(ref string) *exec.Cmd {
			c := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "--root", root, "pull", "-q", ref)
			c.Env = []string{"HOME=" + dir, "STRATA_CONFIG=" + dir, "DOCKER_CONFIG=" + dir}
			return c
		},
		forget: func(string) error {
			os.RemoveAll(dir)
			return prepare()
		},
		stop: func() { os.RemoveAll(dir) },
	}, nil
}

// podmanTool is podman with a private store (bench/internal/podman).
func podmanTool(work string) (tool, error) {
	p, err := podman.New(filepath.Join(work, "podman"))
	if err != nil {
		return tool{}, err
	}
	return tool{
		name:   "podman",
		pull:   func(ref string) *exec.Cmd { return p.Command("pull", "-q", "--tls-verify=false", ref) },
		forget: func(ref string) error { return p.Command("rmi", "-f", ref).Run() },
		stop:   p.Stop,
	}, nil
}

// dockerTool starts a private dockerd (see bench/internal/dockerd).
func dockerTool(ctx context.Context, work string) (tool, error) {
	d, err := dockerd.Start(ctx, filepath.Join(work, "docker"))
	if err != nil {
		return tool{}, err
	}
	return tool{
		name:   "docker",
		pull:   func(ref string) *exec.Cmd { return d.Command("pull", "-q", ref) },
		forget: func(ref string) error { return d.Command("rmi", "-f", ref).Run() },
		stop:   d.Stop,
	}, nil
}
