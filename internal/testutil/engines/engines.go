// Package engines runs the real engines a hub past one machine stands on, as
// private processes on loopback: PostgreSQL (Debian's) and SeaweedFS (its S3
// API, built by scripts/test into .tools/bin). The tests (through testutil)
// and the benchmarks in bench/ share it, so it takes no *testing.T.
//
// Every process started here dies with the process that started it
// (Pdeathsig), and its directory is named after that process's pid, so a
// run that was killed leaves nothing running and its directories are
// removed by the next run (Reap).
package engines

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dirPrefix names the directories engines make: strata-engine-<pid>-<kind>-*.
const dirPrefix = "strata-engine-"

// process is one engine process with its log.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// start runs a program with its output in logPath; it gets stopSig when
// this process dies. cred, if not nil, runs it as another user.
func start(logPath string, cred *syscall.Credential, stopSig syscall.Signal, name string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: stopSig, Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(name), err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// stop sends sig and waits up to wait, then kills.
func (p *process) stop(sig syscall.Signal, wait time.Duration) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitUntil polls ok every 100ms until it holds, the process exits, or timeout passes.
func (p *process) waitUntil(timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready:\n%s", what, Tail(p.log, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %s:\n%s", what, timeout, Tail(p.log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tail returns the last n lines of a file, for an error message.
func Tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// makeDir makes a directory for one engine under os.TempDir(), after
// removing those that dead processes left.
func makeDir(kind string) (string, error) {
	Reap()
	return os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", dirPrefix, os.Getpid(), kind))
}

// Reap removes the engine directories of processes that no longer run.
func Reap() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// freePort returns a loopback port that was free a moment ago and, when
// alsoPlus is not 0, whose port+alsoPlus was free too (SeaweedFS serves
// gRPC on port+10000), below 65536-alsoPlus.
func freePort(alsoPlus int) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if alsoPlus == 0 {
			l.Close()
			return port, nil
		}
		if port+alsoPlus < 65536 {
			if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+alsoPlus)); err == nil {
				l2.Close()
				l.Close()
				return port, nil
			}
		}
		l.Close()
	}
	return 0, errors.New("no free loopback port found")
}

// Missing is an engine that is not installed here; tests skip on it.
type Missing struct{ What string }

func (e *Missing) Error() string { return e.What }

// lookTool finds a program in the module's .tools/bin, then in PATH.
func lookTool(moduleRoot, name string) (string, error) {
	local := filepath.Join(moduleRoot, ".tools", "bin", name)
	if fi, err := os.Stat(local); err == nil && fi.Mode()&0o111 != 0 {
		return local, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", &Missing{What: name + " is not installed: scripts/test installs it"}
}
