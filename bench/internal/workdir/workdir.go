// Package workdir gives a benchmark what every one of them starts with: a
// temporary work directory, a strata binary built from this checkout, and
// free loopback addresses for the servers it runs.
package workdir

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// New makes a temporary work directory for the benchmark called name.
// cleanup removes it, unless keep, when it only says where it is.
func New(name string, keep bool) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "strata-bench-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Println("work directory:", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// BuildStrata builds ./cmd/strata into dir, as the README says to and as
// deploy/image/build.sh does (CGO_ENABLED=0: a static binary, which starts
// without the dynamic loader and cgo's set-up), and returns its path.
// Benchmarks run from the module root.
func BuildStrata(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "strata")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata (run from the module root): %v\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr is a free loopback address for a server a benchmark starts.
func FreeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures: the machine
// is shared, so the figures say how busy it was.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
