package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/store"
)

// supervise runs a detached container with `runc create` and `runc start`
// instead of a `runc run` that would stay: this process is the
// container's subreaper, so its first process becomes this process's child
// once runc exits, and it waits for it itself. It keeps the container's
// standard streams (pipes, or the terminal runc sends it for -t), copies
// its output to the log and serves them on the attach socket. While the
// container runs it closes the store, and gives back the memory starting
// took: an idle monitor is most of what an idle container costs.
func (m *Manager) supervise(ctx context.Context, runc *runtime.Runc, c Container, runcLog string) (int, error) {
	dir := m.dir(c.ID)
	o := c.Settings.Options
	out, errw, done, err := m.logStreams(c.ID)
	if err != nil {
		return 125, err
	}
	defer done()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 125, fmt.Errorf("become the container's subreaper: %w", err)
	}
	srv, err := listenAttach(m.attachSocket(c.ID))
	if err != nil {
		return 125, err
	}
	code := 125
	defer func() { srv.close(code) }()

	createdPid := filepath.Join(dir, "pid.created")
	os.Remove(createdPid)
	args := []string{"create", "--bundle", dir, "--pid-file", createdPid}
	var (
		closeAfterStart []io.Closer // the container's ends
		readers         []func()    // copies of its output, until it closes
		stdin           io.Writer
		console         *os.File
		consoleSock     *net.UnixListener
	)
	if o.Tty {
		sock, l, err := consoleSocket()
		if err != nil {
			return 125, err
		}
		defer os.RemoveAll(filepath.Dir(sock))
		consoleSock = l
		args = append(args, "--console-socket", sock)
	}
	cmd := runc.Command(runcLog, append(args, c.ID)...)
	if !o.Tty {
		or, ow, err := os.Pipe()
		if err != nil {
			return 125, err
		}
		er, ew, err := os.Pipe()
		if err != nil {
			return 125, err
		}
		cmd.Stdout, cmd.Stderr = ow, ew
		closeAfterStart = append(closeAfterStart, ow, ew)
		readers = append(readers, copier(srv.output(frameStdout, out), or), copier(srv.output(frameStderr, errw), er))
		if o.Stdin {
			ir, iw, err := os.Pipe()
			if err != nil {
				return 125, err
			}
			defer iw.Close()
			cmd.Stdin, stdin = ir, iw
			closeAfterStart = append(closeAfterStart, ir)
		}
	}
	closeEnds := func() {
		for _, c := range closeAfterStart {
			c.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		closeEnds()
		return 125, fmt.Errorf("start runc: %w", err)
	}
	closeEnds()
	if consoleSock != nil {
		got := make(chan *os.File, 1)
		go func() { got <- receiveConsole(consoleSock) }()
		werr := cmd.Wait()
		consoleSock.Close() // runc has sent it, or never will
		console = <-got
		if werr != nil || console == nil {
			if console != nil {
				console.Close()
			}
			return exitCode(cmd.ProcessState), nil // the caller reads runc's log
		}
		defer console.Close()
		if o.Stdin {
			stdin = console
		}
		readers = append(readers, copier(srv.output(frameStdout, out), console))
	} else if err := cmd.Wait(); err != nil {
		waitAll(readers, time.Second)
		return exitCode(cmd.ProcessState), nil // the caller reads runc's log
	}
	pid, err := readPid(createdPid)
	if err != nil {
		runc.Delete(ctx, c.ID)
		return 125, err
	}
	if err := runc.Command(runcLog, "start", c.ID).Run(); err != nil {
		runc.Delete(ctx, c.ID)
		waitAll(readers, time.Second)
		return 1, nil // the caller reads runc's log
	}
	os.Rename(createdPid, runtime.PidFile(dir))
	srv.serve(stdin, console)

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, signals...)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go func() {
		for s := range sigs {
			unix.Kill(pid, s.(syscall.Signal))
		}
	}()

	m.idle(ctx)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	code = ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	// What the container's processes left in the pipes: they are all gone
	// with its first one (its PID namespace ends), unless it shares the
	// host's, where a daemon it started may hold them: not for long.
	waitAll(readers, 2*time.Second)
	runc.Delete(ctx, c.ID)
	if err := m.wake(ctx); err != nil {
		return code, err
	}
	return code, nil
}

// copier starts copying r to w and returns a wait for its end.
func copier(w io.Writer, r *os.File) func() {
	done := make(chan struct{})
	go func() { io.Copy(w, r); close(done) }()
	return func() {
		<-done
		r.Close()
	}
}

// waitAll waits for the copies, closing what they read after timeout.
func waitAll(readers []func(), timeout time.Duration) {
	var wg sync.WaitGroup
	for _, wait := range readers {
		wg.Add(1)
		go func() { wait(); wg.Done() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func exitCode(st *os.ProcessState) int {
	if st == nil || st.ExitCode() < 0 {
		return 125
	}
	return st.ExitCode()
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("runc wrote no PID: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("runc's PID file: %w", err)
	}
	return pid, nil
}

// consoleSocket listens where runc sends the master side of the terminal it
// makes for a container with -t (runc create --console-socket).
func consoleSocket() (string, *net.UnixListener, error) {
	d, err := os.MkdirTemp("", "strata-console-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(d, "sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(d)
		return "", nil, err
	}
	return path, l, nil
}

// receiveConsole takes the terminal runc sends, or nil.
func receiveConsole(l *net.UnixListener) *os.File {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	return os.NewFile(uintptr(fds[0]), "console")
}

// idle closes the store while the container runs and returns the memory
// the process no longer needs to the system; wake opens the store again.
func (m *Manager) idle(ctx context.Context) {
	m.store.Close()
	debug.FreeOSMemory()
}

func (m *Manager) wake(ctx context.Context) error {
	var err error
	for i := 0; i < 50; i++ {
		var s *store.Store
		if s, err = store.Open(ctx, m.root); err == nil {
			m.store = s
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("open the store again to record the container's end: %w", err)
}
