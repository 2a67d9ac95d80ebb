package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

// BuildKit is a running buildkitd (moby/buildkit at the version go.mod
// requires, built by scripts/test into .tools/bin), as root with the runc
// worker, in a private directory: the current Dockerfile frontend
// (dockerfile.v0, built in), which docker 20.10's embedded BuildKit is not.
type BuildKit struct {
	Addr string // unix://...
	dir  string
	ctl  string
}

// StartBuildKit starts buildkitd until the test ends. Base images come
// from registries on loopback, over plain http.
func StartBuildKit(t testing.TB) *BuildKit {
	t.Helper()
	RequireRoot(t)
	Tool(t, "runc")
	bin := Tool(t, "buildkitd")
	dir, err := os.MkdirTemp("", "strata-bk-") // short: a socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	b := &BuildKit{Addr: "unix://" + dir + "/bk.sock", dir: dir, ctl: Tool(t, "buildctl")}
	cfg := filepath.Join(dir, "buildkitd.toml")
	os.WriteFile(cfg, []byte("[registry.\"127.0.0.1\"]\n  http = true\n"), 0o644)
	startDaemon(t, filepath.Join(dir, "buildkitd.log"), bin, "--config", cfg, "--root", filepath.Join(dir, "root"),
		"--addr", b.Addr, "--containerd-worker=false", "--oci-worker=true", "--oci-worker-net=host")
	t.Cleanup(func() {
		// After startDaemon's cleanup has stopped it (cleanups run last first):
		// its mounts, then its directory.
		Run(t, nil, "sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null; true")
		os.RemoveAll(dir)
	})
	if !WaitFor(60*time.Second, func() bool { _, err := RunErr(nil, b.ctl, "--addr", b.Addr, "debug", "workers"); return err == nil }) {
		t.Fatalf("buildkitd did not start:\n%s", engines.Tail(filepath.Join(dir, "buildkitd.log"), 20))
	}
	return b
}

// Build builds the Dockerfile in dir (context dir) with the dockerfile.v0
// frontend and writes the image as an OCI layout tar to out. opts are
// frontend options (build-arg:K=V, target=...); extra are buildctl flags
// (--secret ...).
func (b *BuildKit) Build(t testing.TB, dir, out string, opts []string, extra ...string) (string, error) {
	t.Helper()
	args := []string{"--addr", b.Addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
		"--local", "context=" + dir, "--local", "dockerfile=" + dir, "--output", "type=oci,dest=" + out}
	for _, o := range opts {
		args = append(args, "--opt", o)
	}
	out2, err := RunErr(nil, b.ctl, append(args, extra...)...)
	if err != nil {
		return out2, fmt.Errorf("buildctl build: %w", err)
	}
	return out2, nil
}
