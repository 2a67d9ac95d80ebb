package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
)

// ExecOptions are `strata exec` flags.
type ExecOptions struct {
	Args       []string
	Env        []string // -e KEY=VALUE, on top of the container's
	User       string   // -u; the container's when empty
	WorkingDir string   // -w; the container's when empty
	Tty        bool     // -t
	Detach     bool     // -d
}

// Exec runs another process in the running container ref, as `docker
// exec`: in its namespaces and cgroup, with its capabilities, seccomp
// filter and environment. It returns the process's exit status (0 at once
// with Detach); a program that cannot start, or is not there, is status
// 126, as with docker exec.
func (m *Manager) Exec(ctx context.Context, ref string, o ExecOptions, stdio IO) (int, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return 125, err
	}
	if !c.Running() || !m.started(c.ID) {
		return 125, fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	if len(o.Args) == 0 {
		return 125, fmt.Errorf("no command given to run: %w", errdefs.ErrInvalidArgument)
	}
	runc, err := m.runc()
	if err != nil {
		return 125, err
	}
	s := c.Settings
	rootfs := filepath.Join(m.dir(c.ID), "rootfs")
	args := []string{"exec"}
	if o.User != "" {
		user, _, err := runtime.ResolveUser(rootfs, o.User)
		if err != nil {
			return 125, err
		}
		args = append(args, "--user", fmt.Sprintf("%d:%d", user.UID, user.GID))
		for _, g := range user.AdditionalGids {
			args = append(args, "--additional-gids", strconv.Itoa(int(g)))
		}
	}
	if o.WorkingDir != "" {
		args = append(args, "--cwd", o.WorkingDir)
	}
	for _, kv := range o.Env {
		args = append(args, "--env", kv)
	}
	if o.Tty {
		args = append(args, "--tty")
	}
	if o.Detach {
		args = append(args, "--detach")
	}
	env := runtime.Environment(s.Config, runtime.Options{Env: append(append([]string{}, s.Options.Env...), o.Env...)}, s.Hostname, "/")
	cwd := o.WorkingDir
	if cwd == "" {
		cwd, _ = runtime.WorkingDir(s.Config, s.Options)
	}
	if err := runtime.LookPath(rootfs, cwd, env, o.Args[0], s.Options.Volumes); err != nil {
		return 126, err // docker exec says 126 for a program missing too
	}
	args = append(append(args, c.ID), o.Args...)
	runcLog := filepath.Join(m.dir(c.ID), "exec-"+randomHex(6)+".log")
	defer os.Remove(runcLog)
	cmd := runc.Command(runcLog, args...)
	var code int
	if o.Detach { // its streams are /dev/null, so that nothing waits on them
		if err := cmd.Run(); err != nil {
			code = 126
		}
	} else if code, err = runAttached(cmd, o.Tty, stdio, io.Discard, io.Discard); err != nil {
		return 126, err
	}
	if code != 0 {
		if f := runtime.RuncFailure(runcLog); f != nil {
			return 126, f
		}
	}
	return code, nil
}
