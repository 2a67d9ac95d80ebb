package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/testutil"
)

// asCLI makes this test binary run as strata when it is started with it
// set: `run -d` and `start` start strata again (os.Executable) to watch a
// container, and the signal tests run strata as a process of its own.
const asCLI = "STRATA_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv))
	}
	os.Setenv(asCLI, "1")
	os.Exit(m.Run())
}

// busyboxRoot makes a store at a new root holding busybox:test, for the
// snapshotter named ("" for the default choice), or skips without root,
// runc or busybox.
func busyboxRoot(t *testing.T, snapshotter string) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.Tool(t, "runc")
	root := t.TempDir()
	if snapshotter != "" {
		os.MkdirAll(filepath.Join(root, "snapshots"), 0o700)
		os.WriteFile(filepath.Join(root, "snapshots", "driver"), []byte(snapshotter+"\n"), 0o644)
	}
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", "-c", `CMD ["sh"]`, rootfs, "busybox:test")
	t.Cleanup(func() {
		if ids := strings.Fields(mustStrata(t, root, "ps", "-aq", "--no-trunc")); len(ids) > 0 {
			strata(t, root, nil, append([]string{"rm", "-f"}, ids...)...)
		}
		network.Open(root).Down()
	})
	return root
}

// exitStatus is the exit status of a failed strata run.
func exitStatus(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestRunForeground(t *testing.T) {
	root := busyboxRoot(t, "")
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# settings\nFROM_FILE=yes\nSHARED=file\n\n"), 0o644)
	cases := []struct {
		name   string
		args   []string
		stdin  string
		out    string
		status int
	}{
		{"exit status", []string{"run", "--rm", "busybox:test", "sh", "-c", "echo out; exit 3"}, "", "out\n", 3},
		{"env, env file, workdir, user", []string{"run", "--rm", "--env-file", envFile, "-e", "SHARED=flag", "-w", "/tmp/w", "-u", "app",
			"busybox:test", "sh", "-c", "echo $FROM_FILE $SHARED $(pwd) $(id -un)"}, "", "yes flag /tmp/w app\n", 0},
		{"stdin with -i", []string{"run", "--rm", "-i", "busybox:test", "wc", "-c"}, "12345", "5\n", 0},
		{"no stdin without -i", []string{"run", "--rm", "busybox:test", "wc", "-c"}, "12345", "0\n", 0},
		{"entrypoint", []string{"run", "--rm", "--entrypoint", "echo", "busybox:test", "a", "b"}, "", "a b\n", 0},
		{"host network", []string{"run", "--rm", "--network", "host", "busybox:test", "sh", "-c", "test $(ls /sys/class/net | wc -l) -gt 1 && echo many"}, "", "many\n", 0},
		{"volume", []string{"run", "--rm", "-v", t.TempDir() + ":/mnt:ro", "busybox:test", "sh", "-c", "touch /mnt/x 2>/dev/null || echo read-only"}, "", "read-only\n", 0},
		{"missing program", []string{"run", "--rm", "busybox:test", "nope"}, "", "", 127},
		{"bad network", []string{"run", "--rm", "--network", "nosuchnet", "busybox:test", "true"}, "", "", 125},
		{"bad volume", []string{"run", "--rm", "-v", "/tmp:relative", "busybox:test", "true"}, "", "", 125},
		{"missing image, no registry", []string{"run", "--rm", "127.0.0.1:1/none/such:1", "true"}, "", "", 125},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := strata(t, root, []byte(c.stdin), c.args...)
			if exitStatus(err) != c.status || out != c.out {
				t.Fatalf("stdout %q, status %d (%v); want %q, %d", out, exitStatus(err), err, c.out, c.status)
			}
		})
	}
	if got := mustStrata(t, root, "ps", "-aq"); got != "" {
		t.Fatalf("--rm left containers: %q", got)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	root := busyboxRoot(t, "")
	// sh as PID 1 ignores SIGTERM unless it traps it, as under Docker.
	script := `echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 0.05; done`
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--name", "web", "busybox:test", "sh", "-c", script))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	if got := mustStrata(t, root, "ps", "--format", "{{.Names}} {{.State}} {{.Command}}"); got != `web running "sh -c 'echo up; tra…"`+"\n" { // quoted as docker does
		t.Fatalf("ps: %q", got)
	}
	if _, err := strata(t, root, nil, "rm", "web"); exitStatus(err) != 1 || !strings.Contains(err.Error(), "running") {
		t.Fatalf("rm of a running container: %v", err)
	}
	waitLog(t, root, "web", "up\n")
	start := time.Now()
	mustStrata(t, root, "stop", "web")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v for a container that exits on SIGTERM", d)
	}
	if got := mustStrata(t, root, "ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "web Exited (0) ") {
		t.Fatalf("after stop: %q", got)
	}
	if got := mustStrata(t, root, "logs", "web"); got != "up\nbye\n" {
		t.Fatalf("logs: %q", got)
	}
	mustStrata(t, root, "start", "web")
	waitLog(t, root, "web", "up\nbye\nup\n")
	mustStrata(t, root, "stop", "-t", "0", "web")
	got := mustStrata(t, root, "ps", "-a", "--format", "{{.Status}}")
	if !strings.HasPrefix(got, "Exited (0)") && !strings.HasPrefix(got, "Exited (137)") {
		t.Fatalf("after stop -t 0: %q", got)
	}
	mustStrata(t, root, "run", "-d", "busybox:test", "sleep", "60")
	mustStrata(t, root, "rm", "-f", "web")
	out := mustStrata(t, root, "container", "prune", "-f")
	if !strings.Contains(out, "Total reclaimed space:") {
		t.Fatalf("prune: %q", out)
	}
	if got := mustStrata(t, root, "ps", "-a", "--format", "{{.State}}"); got != "running\n" {
		t.Fatalf("prune removed a running container, or kept a stopped one: %q", got)
	}
}

// waitLog waits for a container's log to be want.
func waitLog(t *testing.T, root, name, want string) {
	t.Helper()
	var got string
	if !testutil.WaitFor(10*time.Second, func() bool { got = mustStrata(t, root, "logs", name); return got == want }) {
		t.Fatalf("logs of %s: %q, want %q", name, got, want)
	}
}

// strataProcess starts strata as a process of its own.
func strataProcess(t *testing.T, root string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	return cmd
}

func TestSignalsReachTheContainer(t *testing.T) {
	root := busyboxRoot(t, "")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			var out syncBuffer // written by the process's copier while the test reads it
			cmd := strataProcess(t, root, "run", "--rm", "busybox:test", "sh", "-c",
				`trap 'echo caught; exit 42' INT TERM; echo ready; while true; do sleep 0.05; done`)
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if !testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "ready") }) {
				cmd.Process.Kill()
				t.Fatalf("the container did not start: %q", out.String())
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if cmd.ProcessState.ExitCode() != 42 || out.String() != "ready\ncaught\n" {
				t.Fatalf("after %v: status %d (%v), output %q; want 42 and the trap's output", sig, cmd.ProcessState.ExitCode(), err, out.String())
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	root := busyboxRoot(t, "")
	master, slave, err := runtime.OpenPty()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	cmd := strataProcess(t, root, "run", "-it", "--rm", "busybox:test", "sh", "-c", "tty; echo TERM=$TERM; exit 4")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out, _ := io.ReadAll(master) // EIO once the terminal's last user is gone
	cmd.Wait()
	text := strings.ReplaceAll(string(out), "\r", "")
	if cmd.ProcessState.ExitCode() != 4 || !strings.Contains(text, "/dev/pts/0\nTERM=xterm\n") {
		t.Fatalf("status %d, terminal showed %q", cmd.ProcessState.ExitCode(), text)
	}
	if _, err := strata(t, root, nil, "run", "-it", "busybox:test", "true"); err == nil || !strings.Contains(err.Error(), "not a TTY") {
		t.Fatalf("-it without a terminal: %v", err)
	}
}
