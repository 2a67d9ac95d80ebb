package testutil

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

// Docker is a private dockerd for one test: its own data root, socket and
// client config, no bridge and no firewall changes (see shared/peers notes).
type Docker struct {
	Host   string // unix:///.../docker.sock
	Config string // DOCKER_CONFIG for the CLI
	cli    string
}

// StartDocker starts a private dockerd, or skips when docker or root is
// missing. daemonArgs are more flags for dockerd (--registry-mirror=URL).
func StartDocker(t testing.TB, daemonArgs ...string) *Docker {
	t.Helper()
	RequireRoot(t)
	dockerd := Tool(t, "dockerd")
	cli := Tool(t, "docker")
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "strata-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &Docker{Host: "unix://" + dir + "/docker.sock", Config: filepath.Join(dir, "cfg"), cli: cli}
	os.MkdirAll(d.Config, 0o700)
	args := []string{"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", d.Host, "--storage-driver", "overlay2",
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"}
	startDaemon(t, filepath.Join(dir, "dockerd.log"), dockerd, append(args, daemonArgs...)...)
	t.Cleanup(func() { // containers first, or dockerd waits for them
		ids, _ := d.RunErr("ps", "-aq")
		if f := strings.Fields(ids); len(f) > 0 {
			d.RunErr(append([]string{"rm", "-f"}, f...)...)
		}
	})
	if !WaitFor(60*time.Second, func() bool { _, err := d.RunErr("version"); return err == nil }) {
		t.Fatalf("dockerd did not start:\n%s", engines.Tail(filepath.Join(dir, "dockerd.log"), 20))
	}
	return d
}

// Env is what the docker CLI needs to talk to this dockerd.
func (d *Docker) Env() []string {
	return []string{"DOCKER_HOST=" + d.Host, "DOCKER_CONFIG=" + d.Config}
}

// Run runs the docker CLI and fails the test when it fails.
func (d *Docker) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, d.Env(), d.cli, args...)
}

// RunErr runs the docker CLI and returns its stdout and error.
func (d *Docker) RunErr(args ...string) (string, error) {
	return RunErr(d.Env(), d.cli, args...)
}

// Command is an unstarted docker CLI command, for stdin and streaming.
func (d *Docker) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.cli, args...)
	cmd.Env = append(os.Environ(), d.Env()...)
	return cmd
}

// Podman is podman with a private store, as root.
type Podman struct {
	dir string
	bin string
}

// NewPodman prepares a private podman, or skips when podman or root is missing.
func NewPodman(t testing.TB) *Podman {
	t.Helper()
	RequireRoot(t)
	bin := Tool(t, "podman")
	// A short path: podman refuses a run root longer than 50 characters,
	// which t.TempDir() makes for long test names.
	dir, err := os.MkdirTemp("", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Podman{dir: dir, bin: bin}
	// Root here lacks CAP_SYS_RESOURCE, so podman's default rlimits make runc fail
	// ("error setting rlimit type 7"); an auth file must exist before login.
	conf := "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=1024:1024\"]\n"
	os.WriteFile(filepath.Join(p.dir, "containers.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(p.dir, "auth.json"), []byte(`{"auths":{}}`), 0o600)
	t.Cleanup(func() { p.RunErr("system", "reset", "--force") })
	return p
}

func (p *Podman) args(args []string) []string {
	return append([]string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--storage-driver", "overlay"}, args...)
}

// Env is the environment podman runs with.
func (p *Podman) Env() []string {
	return []string{"CONTAINERS_CONF=" + filepath.Join(p.dir, "containers.conf"),
		"REGISTRY_AUTH_FILE=" + filepath.Join(p.dir, "auth.json")}
}

// Run runs podman and fails the test when it fails.
func (p *Podman) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, p.Env(), p.bin, p.args(args)...)
}

// RunErr runs podman and returns its stdout and error.
func (p *Podman) RunErr(args ...string) (string, error) {
	return RunErr(p.Env(), p.bin, p.args(args)...)
}

// Distribution is a running CNCF distribution registry (Debian's docker-registry).
type Distribution struct {
	Addr string // host:port, plain http
	Dir  string
}

// StartDistribution starts the reference registry on a free loopback port,
// with htpasswd auth for user:pass when userpass is not empty.
func StartDistribution(t testing.TB, userpass string) *Distribution {
	t.Helper()
	bin := Tool(t, "docker-registry")
	dir := t.TempDir()
	r := &Distribution{Addr: FreeAddr(t), Dir: dir}
	auth := ""
	if userpass != "" {
		user, pass, _ := strings.Cut(userpass, ":")
		Run(t, nil, Tool(t, "htpasswd"), "-Bbc", filepath.Join(dir, "htpasswd"), user, pass)
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: basic-realm\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	startRegistry(t, bin, r, auth)
	return r
}

// startRegistry writes r's config (auth is its YAML auth section, or "") and
// starts the registry until the test ends.
func startRegistry(t testing.TB, bin string, r *Distribution, auth string) {
	t.Helper()
	dir := r.Dir
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: strata-test-secret
%s`, filepath.Join(dir, "data"), r.Addr, auth)
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644)
	startDaemon(t, filepath.Join(dir, "registry.log"), bin, "serve", filepath.Join(dir, "config.yml"))
	if !WaitFor(20*time.Second, func() bool {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 || resp.StatusCode == 401
	}) {
		t.Fatalf("docker-registry did not start:\n%s", engines.Tail(filepath.Join(dir, "registry.log"), 20))
	}
}
