package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime/container"
)

// attachCommand is docker's attach: the streams of a running container,
// served by its monitor.
func (a *app) attachCommand() *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Long: `Attach to a running detached container: its output from now on, and, when it
was started with -i, your input; with -t, your terminal, in raw mode. attach
exits with the container's exit status when it ends.

Detach and leave it running with Ctrl-P Ctrl-Q (--detach-keys to change
that: comma-separated keys, each a letter or ctrl- and a letter or one of
@ [ \ ] ^ _). Without -t, Ctrl-C and the other signals attach gets are sent
to the container (--sig-proxy=false to not: then Ctrl-C detaches).

The container's monitor, the strata process that runs it, holds its
streams and serves them on containers/ID/attach.sock.`,
		Example: "  strata run -dit --name box busybox sh\n  strata attach box\n  strata attach --detach-keys ctrl-x,x box",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := container.ParseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				ctx := cmd.Context()
				c, err := m.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if !c.Running() {
					return fmt.Errorf("you cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
				}
				if m.Paused(c) {
					return fmt.Errorf("you cannot attach to a paused container, unpause it first: %w", errdefs.ErrConflict)
				}
				o := container.AttachOptions{Stdout: a.Out, Stderr: a.Err}
				tty := c.Settings.Options.Tty
				if c.Settings.Options.Stdin && !noStdin {
					o.Stdin, o.DetachKeys = a.In, keys
					in, isFile := a.In.(*os.File)
					if tty {
						if !isFile || !term.IsTerminal(int(in.Fd())) {
							return fmt.Errorf("the input device is not a TTY: %w", errdefs.ErrInvalidArgument)
						}
						old, err := term.MakeRaw(int(in.Fd()))
						if err != nil {
							return err
						}
						defer term.Restore(int(in.Fd()), old)
						o.Resize = watchSize(int(in.Fd()))
					}
				}
				if sigProxy && !tty { // then Ctrl-C is the container's, not attach's end
					ctx = context.WithoutCancel(ctx)
					sigs := make(chan os.Signal, 8)
					signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
					defer signal.Stop(sigs)
					go func() {
						for s := range sigs {
							m.Signal(ctx, c.ID, s.(syscall.Signal))
						}
					}()
				}
				code, err := m.Attach(ctx, c.ID, o)
				switch {
				case errors.Is(err, container.ErrDetached):
					if tty {
						fmt.Fprint(a.Err, "\r\n")
					}
					fmt.Fprintln(a.Err, "read escape sequence")
					return nil
				case errors.Is(err, container.ErrNoMonitor):
					return fmt.Errorf("container %s: %w; attach works with detached containers (run -d, start)", c.Name, err)
				case err != nil:
					return err
				case code != 0:
					return ExitError{Code: code}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "override the key sequence for detaching a container")
	return cmd
}

// watchSize gives the terminal's size now and whenever it changes.
func watchSize(fd int) <-chan [2]uint16 {
	ch := make(chan [2]uint16, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() {
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			select {
			case ch <- [2]uint16{ws.Row, ws.Col}:
			default:
			}
		}
	}
	send()
	go func() {
		for range winch {
			send()
		}
	}()
	return ch
}
