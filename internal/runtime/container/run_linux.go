package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
)

// IO is where a container's standard streams go, besides its log.
type IO struct {
	Stdin          io.Reader // nil: nothing, as without -i
	Stdout, Stderr io.Writer // nil: the log only
	// Terminal, for -it on a terminal, is handed to runc, which puts it in
	// raw mode and relays it to the container's own pseudo-terminal.
	Terminal *os.File
}

// signals are relayed to the container while strata waits for it, as
// `docker run` does.
var signals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Run runs the container ref and waits for it to end, recording its state
// and exit status; this process watches it meanwhile (for a detached
// container, this process is `strata container monitor`). It returns the
// container's exit status, or an error (with status 125, 126 or 127, as
// Docker's) when it could not start. Cancelling ctx does not stop the
// container: signals strata receives are relayed to it instead.
func (m *Manager) Run(ctx context.Context, ref string, stdio IO) (int, error) {
	return m.runAs(ctx, ref, stdio, false)
}

// Monitor runs the container ref detached, as `strata container monitor`:
// this process keeps the container's streams, serves them to `strata
// attach`, and waits for the container as its subreaper, with no runc
// process left (see supervise). It returns as Run.
func (m *Manager) Monitor(ctx context.Context, ref string) (int, error) {
	return m.runAs(ctx, ref, IO{}, true)
}

func (m *Manager) runAs(ctx context.Context, ref string, stdio IO, detached bool) (int, error) {
	ctx = context.WithoutCancel(ctx)
	c, err := m.Get(ctx, ref)
	if err != nil {
		return 125, err
	}
	runc, err := m.runc()
	if err != nil {
		return 125, err
	}
	if err := m.begin(ctx, c.ID); err != nil {
		return 125, err
	}
	code, runErr := m.run(ctx, runc, c, stdio, nil, detached)
	rec, err := m.store.UpdateContainer(ctx, c.ID, func(r *store.Container) error {
		r.State, r.ExitCode, r.Finished, r.Pid, r.PidStart = store.StateExited, code, time.Now(), 0, 0
		r.Error = ""
		if runErr != nil {
			r.Error = runErr.Error()
		}
		return nil
	})
	if err == nil && c.Settings.AutoRemove && rec.State == store.StateExited {
		err = m.RemoveWith(ctx, c.ID, false, true) // as docker --rm: its anonymous volumes too
	}
	return code, errors.Join(runErr, err)
}

// begin records that this process runs the container, unless another does.
func (m *Manager) begin(ctx context.Context, id string) error {
	_, err := m.store.UpdateContainer(ctx, id, func(r *store.Container) error {
		if r.State == store.StateRunning && alive(r.Pid, r.PidStart) {
			return fmt.Errorf("container %s is already running: %w", r.Name, errdefs.ErrConflict)
		}
		pid := os.Getpid()
		r.State, r.Pid, r.PidStart, r.Started, r.ExitCode, r.Error = store.StateRunning, pid, processStart(pid), time.Now(), 0, ""
		return nil
	})
	return err
}

// run mounts the container's file system, sets up its network namespace
// and bundle, and runs runc: in the foreground, or detached (supervise). The mount points that runc
// makes for stubs (a build step's targets), when the file system lacks
// them, are removed again once runc has exited, if they are still empty.
func (m *Manager) run(ctx context.Context, runc *runtime.Runc, c Container, stdio IO, stubs []string, detached bool) (code int, err error) {
	dir := m.dir(c.ID)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return 125, err
	}
	snapshot.Unmount(rootfs) // what a crashed run may have left
	mounts, err := m.sn.Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return 125, err
	}
	if err := snapshot.MountAll(mounts, rootfs); err != nil {
		return 125, err
	}
	defer snapshot.Unmount(rootfs)
	if err := populateVolumes(ctx, rootfs, c.Settings.Options.Volumes); err != nil {
		return 125, err
	}
	j, err := m.joinNetwork(ctx, c)
	if err != nil {
		return 125, err
	}
	defer j.leave()
	if err := m.writeBundle(c, rootfs, j.netns); err != nil {
		var ee *runtime.ExecError
		if errors.As(err, &ee) {
			return ee.Code, err
		}
		return 125, err
	}
	if len(stubs) > 0 { // after the bundle, which may make the working directory
		remove, err := withStubs(rootfs, stubs)
		if err != nil {
			return 125, err
		}
		defer func() {
			if rerr := remove(); rerr != nil && err == nil {
				code, err = 125, rerr
			}
		}()
	}
	runcLog := filepath.Join(dir, "runc.log")
	os.Remove(runcLog)
	os.Remove(runtime.PidFile(dir))
	defer os.Remove(runtime.PidFile(dir)) // it says the container runs
	if detached {
		code, err = m.supervise(ctx, runc, c, runcLog)
	} else {
		cmd := runc.Command(runcLog, runtime.RunArgs(c.ID, dir)...)
		// runc goes with this process: a foreground runc left starting the
		// container after strata was killed would race Reap's cleanup.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		code, err = m.runRunc(cmd, c, stdio)
	}
	if err != nil {
		return 125, err
	}
	if code != 0 {
		if f := runtime.RuncFailure(runcLog); f != nil {
			runc.Delete(ctx, c.ID)
			return failureCode(f), f
		}
	}
	return code, nil
}

// failureCode is Docker's exit status for a container that did not start.
func failureCode(err error) int {
	switch msg := err.Error(); {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 125
}

// writeBundle writes config.json for the container as it is now.
func (m *Manager) writeBundle(c Container, rootfs, netns string) error {
	s := c.Settings
	o := s.Options
	userSpec := o.User
	if userSpec == "" {
		userSpec = s.Config.User
	}
	user, home, err := runtime.ResolveUser(rootfs, userSpec)
	if err != nil {
		return err
	}
	cwd, err := runtime.WorkingDir(s.Config, o)
	if err != nil {
		return err
	}
	if err := runtime.MkdirInRoot(rootfs, cwd); err != nil {
		return err
	}
	env := runtime.Environment(s.Config, o, s.Hostname, home)
	if err := runtime.LookPath(rootfs, cwd, env, s.Args[0], o.Volumes); err != nil {
		return err
	}
	dir := m.dir(c.ID)
	files := map[string]string{}
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		files["/etc/"+f] = filepath.Join(dir, f)
	}
	o.Hostname = s.Hostname
	spec, err := runtime.Spec(runtime.Bundle{ID: c.ID, Args: s.Args, Env: env, Cwd: cwd, User: user, Options: o, Files: files, NetNS: netns})
	if err != nil {
		return err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// runRunc starts runc with the container's streams wired, relays signals
// to it, and returns the container's exit status.
func (m *Manager) runRunc(cmd *exec.Cmd, c Container, stdio IO) (int, error) {
	out, errw, done, err := m.logStreams(c.ID)
	if err != nil {
		return 0, err
	}
	defer done()
	return runAttached(cmd, c.Settings.Options.Tty, stdio, out, errw)
}

// logStreams are writers of the container's stdout and stderr to its log;
// done writes what is left and closes it.
func (m *Manager) logStreams(id string) (out, errw io.Writer, done func(), err error) {
	log, err := openLog(m.LogPath(id))
	if err != nil {
		return nil, nil, nil, err
	}
	o := &streamWriter{log: log, stream: "stdout"}
	e := &streamWriter{log: log, stream: "stderr"}
	return o, e, func() { o.flush(); e.flush(); log.Close() }, nil
}

// runAttached runs runc with its streams wired (see wire), relays the
// signals strata gets to it, and returns the exit status of the process.
func runAttached(cmd *exec.Cmd, tty bool, stdio IO, outLog, errLog io.Writer) (int, error) {
	done, err := wire(cmd, tty, stdio, outLog, errLog)
	if err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, signals...)
	defer func() { signal.Stop(sigs); close(sigs) }() // and the relay below ends
	if err := cmd.Start(); err != nil {
		done()
		return 0, fmt.Errorf("start runc: %w", err)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	werr := cmd.Wait()
	done()
	st := cmd.ProcessState
	if st == nil {
		return 0, werr
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return st.ExitCode(), nil
}

// wire connects runc's standard streams: a terminal directly; otherwise
// through strata, which copies output to outLog and errLog (and to stdio),
// with a pseudo-terminal of its own for -t. done finishes the copies after
// runc exits.
func wire(cmd *exec.Cmd, tty bool, stdio IO, outLog, errLog io.Writer) (done func(), err error) {
	if tty && stdio.Terminal != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Terminal, stdio.Terminal, stdio.Terminal
		return func() {}, nil
	}
	// Apart from the terminal's process group, so that Ctrl-C reaches the
	// container once, relayed by strata, as with docker.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if tty {
		master, slave, err := runtime.OpenPty()
		if err != nil {
			return nil, err
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if stdio.Stdin != nil {
			go io.Copy(master, stdio.Stdin)
		}
		copied := make(chan struct{})
		go func() { io.Copy(tee(stdio.Stdout, outLog), master); close(copied) }()
		return func() {
			slave.Close()
			<-copied
			master.Close()
		}, nil
	}
	var closers []io.Closer
	if stdio.Stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		go func() { io.Copy(pw, stdio.Stdin); pw.Close() }()
		cmd.Stdin = pr
		closers = append(closers, pr)
	}
	cmd.Stdout, cmd.Stderr = tee(stdio.Stdout, outLog), tee(stdio.Stderr, errLog)
	return func() {
		for _, c := range closers {
			c.Close()
		}
	}, nil
}

func tee(w io.Writer, log io.Writer) io.Writer {
	switch {
	case w == nil:
		return log
	case log == io.Discard: // exec: a file (strata's stdout) goes to runc as it is, with no pipe and copy
		return w
	}
	return io.MultiWriter(w, log)
}
