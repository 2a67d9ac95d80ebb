// Package testutil starts the real things strata's tests run against (a
// private dockerd, the reference registry, podman, skopeo, crane, oras) and
// skips a test, saying why, when one is missing here. scripts/test installs
// them all, so in CI nothing skips.
package testutil

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ModuleRoot is the directory holding go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Tool returns the path of a peer program, looking in PATH and in the
// module's .tools/bin (where scripts/test installs the Go-built peers); the
// test is skipped when it is in neither.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p := LookTool(name); p != "" {
		return p
	}
	t.Skipf("%s is not installed: scripts/test installs it (apt-get or go install)", name)
	return ""
}

// LookTool is Tool without the skip: "" when name is not found.
func LookTool(name string) string {
	local := filepath.Join(ModuleRoot(), ".tools", "bin", name)
	if fi, err := os.Stat(local); err == nil && fi.Mode()&0o111 != 0 {
		return local
	}
	if name == "docker" {
		// Debian's 20.10 CLI matches its dockerd; a newer one in /usr/local may shadow it.
		if _, err := os.Stat("/usr/bin/docker"); err == nil {
			return "/usr/bin/docker"
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, namespaces or a private dockerd); run scripts/test as root")
	}
}

// Run runs a program, fails the test when it fails, and returns its stdout.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// RunErr runs a program and returns its stdout; the error includes stderr.
func RunErr(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &RunError{Err: err, Stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// RunError is a failed command with what it wrote to stderr.
type RunError struct {
	Err    error
	Stderr string
}

func (e *RunError) Error() string { return e.Err.Error() + ": " + strings.TrimSpace(e.Stderr) }

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// WaitFor polls ok every 50ms until it holds or timeout passes.
func WaitFor(timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ok()
}

// startDaemon starts a long-running program whose output goes to logPath,
// and stops it (SIGTERM, then SIGKILL) when the test ends.
func startDaemon(t testing.TB, logPath string, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}
