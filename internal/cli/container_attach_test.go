package cli

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/testutil"
)

// attached is `strata attach` running as a process of its own.
type attached struct {
	cmd      *exec.Cmd
	out, err syncBuffer
	stdin    io.WriteCloser
}

func startAttach(t *testing.T, root string, stdin bool, args ...string) *attached {
	t.Helper()
	a := &attached{cmd: strataProcess(t, root, append([]string{"attach"}, args...)...)}
	a.cmd.Stdout, a.cmd.Stderr = &a.out, &a.err
	if stdin {
		w, err := a.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		a.stdin = w
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cmd.Process.Kill(); a.cmd.Wait() })
	return a
}

func (a *attached) waitOut(t *testing.T, want string) {
	t.Helper()
	if !testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(a.out.String(), want) }) {
		t.Fatalf("attach's output %q (errors %q) never showed %q", a.out.String(), a.err.String(), want)
	}
}

// exit waits for attach to end and returns its exit status.
func (a *attached) exit(t *testing.T) int {
	t.Helper()
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("attach did not end; output %q, errors %q", a.out.String(), a.err.String())
	}
	return a.cmd.ProcessState.ExitCode()
}

func state(t *testing.T, root, name string) string {
	return strings.TrimSpace(mustStrata(t, root, "inspect", "-f", "{{.State.Status}}", name))
}

func TestAttach(t *testing.T) {
	root := busyboxRoot(t, "")
	t.Run("output until it ends, with its status", func(t *testing.T) {
		mustStrata(t, root, "run", "-d", "--name", "out", "busybox:test", "sh", "-c",
			`while [ ! -e /tmp/stop ]; do echo tick; echo tock >&2; sleep 0.1; done; echo done; exit 7`)
		a := startAttach(t, root, false, "out")
		a.waitOut(t, "tick\n")
		if !testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(a.err.String(), "tock\n") }) {
			t.Fatalf("stderr %q", a.err.String())
		}
		mustStrata(t, root, "exec", "out", "touch", "/tmp/stop")
		if code := a.exit(t); code != 7 || !strings.HasSuffix(a.out.String(), "tick\ndone\n") {
			t.Fatalf("status %d, output %q", code, a.out.String())
		}
	})
	t.Run("input with -i, detach keys", func(t *testing.T) {
		mustStrata(t, root, "run", "-di", "--name", "in", "busybox:test", "sh", "-c",
			`while read l; do echo "got $l"; [ "$l" = bye ] && exit 3; done`)
		a := startAttach(t, root, true, "in")
		io.WriteString(a.stdin, "hello\n")
		a.waitOut(t, "got hello\n")
		io.WriteString(a.stdin, "a\x10b\n") // ctrl-p alone is input
		a.waitOut(t, "got a\x10b\n")
		io.WriteString(a.stdin, "\x10\x11") // ctrl-p ctrl-q detaches
		if code := a.exit(t); code != 0 || !strings.Contains(a.err.String(), "read escape sequence") {
			t.Fatalf("after the detach keys: status %d, errors %q", code, a.err.String())
		}
		if s := state(t, root, "in"); s != "running" {
			t.Fatalf("the container is %s after detaching", s)
		}
		a = startAttach(t, root, true, "--detach-keys", "ctrl-x,x", "in")
		io.WriteString(a.stdin, "again\n")
		a.waitOut(t, "got again\n")
		io.WriteString(a.stdin, "\x18x")
		if code := a.exit(t); code != 0 || state(t, root, "in") != "running" {
			t.Fatalf("--detach-keys: status %d, errors %q", code, a.err.String())
		}
		a = startAttach(t, root, true, "in")
		io.WriteString(a.stdin, "bye\n")
		if code := a.exit(t); code != 3 || a.out.String() != "got bye\n" {
			t.Fatalf("status %d, output %q; want 3 and only what came after attaching", code, a.out.String())
		}
		if _, err := strata(t, root, nil, "attach", "in"); exitStatus(err) != 1 || !strings.Contains(err.Error(), "stopped container") {
			t.Fatalf("attach to a stopped container: %v", err)
		}
		if _, err := strata(t, root, nil, "attach", "--detach-keys", "ctrl-", "in"); err == nil || !strings.Contains(err.Error(), "detach keys") {
			t.Fatalf("bad --detach-keys: %v", err)
		}
	})
	t.Run("signals", func(t *testing.T) {
		mustStrata(t, root, "run", "-d", "--name", "sig", "busybox:test", "sh", "-c",
			`trap 'echo caught; exit 42' TERM; echo ready; while true; do sleep 0.05; done`)
		a := startAttach(t, root, false, "--sig-proxy=false", "sig")
		time.Sleep(300 * time.Millisecond) // attached
		a.cmd.Process.Signal(syscall.SIGTERM)
		a.exit(t)
		if s := state(t, root, "sig"); s != "running" {
			t.Fatalf("with --sig-proxy=false, SIGTERM to attach reached the container: %s", s)
		}
		a = startAttach(t, root, false, "sig")
		time.Sleep(300 * time.Millisecond)
		a.cmd.Process.Signal(syscall.SIGTERM)
		if code := a.exit(t); code != 42 || a.out.String() != "caught\n" {
			t.Fatalf("SIGTERM proxied: status %d, output %q", code, a.out.String())
		}
	})
	t.Run("terminal with -it", func(t *testing.T) {
		mustStrata(t, root, "run", "-dit", "--name", "tty", "busybox:test", "sh")
		attachTTY := func() (*os.File, *exec.Cmd) {
			master, slave, err := runtime.OpenPty()
			if err != nil {
				t.Skipf("no pseudo-terminal here: %v", err)
			}
			cmd := strataProcess(t, root, "attach", "tty")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close()
			t.Cleanup(func() { cmd.Process.Kill(); master.Close() })
			return master, cmd
		}
		var screen syncBuffer
		master, cmd := attachTTY()
		go io.Copy(&screen, master)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(master, "tty; echo $((6*7))\r")
		if !testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(screen.String(), "42") }) {
			t.Fatalf("the terminal showed %q", screen.String())
		}
		if !strings.Contains(screen.String(), "/dev/pts/0") {
			t.Fatalf("the shell's input is not a terminal: %q", screen.String())
		}
		io.WriteString(master, "\x10\x11")
		cmd.Wait()
		testutil.WaitFor(5*time.Second, func() bool { return strings.Contains(screen.String(), "read escape sequence") }) // the copy may lag
		if cmd.ProcessState.ExitCode() != 0 || !strings.Contains(screen.String(), "read escape sequence") || state(t, root, "tty") != "running" {
			t.Fatalf("ctrl-p ctrl-q: status %d, screen %q", cmd.ProcessState.ExitCode(), screen.String())
		}
		master, cmd = attachTTY()
		go io.Copy(io.Discard, master)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(master, "exit 5\r")
		cmd.Wait()
		if cmd.ProcessState.ExitCode() != 5 {
			t.Fatalf("exit 5 in the attached shell: attach's status %d", cmd.ProcessState.ExitCode())
		}
		if _, err := strata(t, root, nil, "attach", "tty"); err == nil {
			t.Fatal("attach to a stopped -it container worked")
		}
	})
}
