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
)

// supervise runs a detached container with `runc run --detach` (one runc
// process, which exits once the container runs) instead of a foreground
// `runc run` that would stay: this process is the container's subreaper,
// so its first process becomes this process's child once runc exits, and
// it waits for it itself. It keeps the container's standard streams
// (pipes, or the terminal runc sends it for -t), copies its output to the
// log and serves them on the attach socket. Once the container runs it
// gives back the memory starting it took: an idle monitor is most of what
// an idle container costs. One monitor process serves all the detached
// containers of a store (see ServeMonitor).
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

	createdPid := filepath.Join(dir, "pid.created") // PidFile once the container runs
	os.Remove(createdPid)
	args := []string{"run", "--detach", "--bundle", dir, "--pid-file", createdPid}
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
	os.Rename(createdPid, runtime.PidFile(dir))
	srv.serve(stdin, console)

	debug.FreeOSMemory() // what starting it took
	ws := reap(pid)
	code = ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	// What the container's processes left in the pipes: they are all gone
	// with its first one (its PID namespace ends), unless it shares the
	// host's, where a daemon it started may hold them: not for long.
	waitAll(readers, 2*time.Second)
	runc.Delete(ctx, c.ID)
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
// makes for a container with -t (runc run --console-socket).
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
	unix.SetNonblock(fds[0], true) // read through the poller, not a thread
	return os.NewFile(uintptr(fds[0]), "console")
}

// The containers' first processes become this process's children once
// runc exits (it is their subreaper); reap waits for one. One goroutine
// reaps them all on SIGCHLD, so that a monitor of many containers does not
// keep a thread blocked in wait4 for each.
var reaper struct {
	once    sync.Once
	mu      sync.Mutex
	waiting map[int]chan unix.WaitStatus
	check   chan struct{}
}

func reap(pid int) unix.WaitStatus {
	reaper.once.Do(func() {
		reaper.waiting = map[int]chan unix.WaitStatus{}
		reaper.check = make(chan struct{}, 1)
		sigchld := make(chan os.Signal, 1)
		signal.Notify(sigchld, syscall.SIGCHLD)
		go func() {
			tick := time.NewTicker(time.Second) // a SIGCHLD that came before Notify
			for {
				select {
				case <-sigchld:
				case <-tick.C:
				case <-reaper.check:
				}
				reaper.mu.Lock()
				for p, ch := range reaper.waiting {
					var ws unix.WaitStatus
					if n, err := unix.Wait4(p, &ws, unix.WNOHANG, nil); n == p || errors.Is(err, unix.ECHILD) {
						ch <- ws
						delete(reaper.waiting, p)
					}
				}
				reaper.mu.Unlock()
			}
		}()
	})
	ch := make(chan unix.WaitStatus, 1)
	reaper.mu.Lock()
	reaper.waiting[pid] = ch
	reaper.mu.Unlock()
	select {
	case reaper.check <- struct{}{}:
	default:
	}
	return <-ch
}
