package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/runtime/container"
)

// containerCommands are `strata container` and Docker's top-level
// shortcuts to its commands.
func (a *app) containerCommands() []*cobra.Command {
	group := &cobra.Command{
		Use:     "container",
		Short:   "Manage containers",
		GroupID: "containers",
		Long: `Manage containers: each runs on its image's read-only layers with a
writable layer of its own on top, kept until the container is removed.`,
	}
	group.AddCommand(a.containerLsCommand(), a.logsCommand(), a.stopCommand(), a.startCommand(),
		a.rmCommand(), a.containerPruneCommand(), a.containerMonitorCommand(), a.diffCommand(), a.commitCommand(),
		a.exportCommand(), a.execCommand(), a.portCommand(), a.cpCommand())
	group.AddCommand(a.controlCommands()...)
	group.AddCommand(a.containerRestoreCommand())
	shortcut := func(c *cobra.Command) *cobra.Command { c.GroupID = "containers"; return c }
	ps := shortcut(a.containerLsCommand())
	ps.Use, ps.Aliases = "ps [OPTIONS]", nil
	cmds := []*cobra.Command{group, a.runCommand(), ps, shortcut(a.logsCommand()), shortcut(a.stopCommand()),
		shortcut(a.startCommand()), shortcut(a.rmCommand()), shortcut(a.diffCommand()),
		shortcut(a.commitCommand()), shortcut(a.exportCommand()), shortcut(a.execCommand()), shortcut(a.portCommand()), shortcut(a.cpCommand())}
	for _, c := range a.controlCommands() {
		if c.Name() == "inspect" {
			c = a.inspectCommand("inspect [OPTIONS] NAME|ID [NAME|ID...]", "Show details of containers or images", false)
		}
		cmds = append(cmds, shortcut(c))
	}
	return cmds
}

// eachContainer runs fn for each named container, printing the name as
// given when it succeeds, as docker stop/start/rm do; it fails after all
// were tried when any failed.
func (a *app) eachContainer(ctx context.Context, refs []string, fn func(m *container.Manager, ref string) error) error {
	return a.withContainers(ctx, func(m *container.Manager) error {
		var errs []error
		for _, ref := range refs {
			if err := fn(m, ref); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintln(a.Out, ref)
		}
		return errors.Join(errs...)
	})
}

func (a *app) stopCommand() *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop running containers",
		Long: `Stop running containers: each gets its stop signal (SIGTERM unless its
image says otherwise), then SIGKILL if it is still running after --time.`,
		Example: "  strata stop web\n  strata stop -t 0 web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				_, err := m.Stop(cmd.Context(), ref, time.Duration(seconds)*time.Second)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait for the container to stop before killing it")
	return cmd
}

func (a *app) startCommand() *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start stopped containers",
		Long: `Start stopped or created containers in the background, on the writable layer
they had: what they changed before is still there. With -a, start one in the
foreground: its output here, strata's exit status its own.`,
		Example: "  strata start web\n  strata start -a job",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if attach || interactive {
				if len(args) > 1 {
					return fmt.Errorf("you cannot start and attach multiple containers at once")
				}
				return a.startAttached(cmd.Context(), args[0], interactive)
			}
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				c, err := m.Get(cmd.Context(), ref)
				if err != nil {
					return err
				}
				_, err = m.Start(cmd.Context(), c.ID, a.monitorCommand(c.ID))
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "run in the foreground, with its output here")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "pass STDIN to the container (with -a)")
	return cmd
}

// startAttached runs a created or stopped container in the foreground.
func (a *app) startAttached(ctx context.Context, ref string, interactive bool) error {
	return a.withContainers(ctx, func(m *container.Manager) error {
		c, err := m.Get(ctx, ref)
		if err != nil {
			return err
		}
		terminal, err := a.terminal(runFlags{tty: c.Settings.Options.Tty, interactive: interactive})
		if err != nil {
			return err
		}
		stdio := container.IO{Stdout: a.Out, Stderr: a.Err, Terminal: terminal}
		if interactive {
			stdio.Stdin = a.In
		}
		code, err := m.Run(ctx, c.ID, stdio)
		if err != nil {
			return a.exitWith(code, err)
		}
		if code != 0 {
			return ExitError{Code: code}
		}
		return nil
	})
}

func (a *app) rmCommand() *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove containers",
		Long: `Remove containers and their writable layers. A running container is
refused unless -f, which kills it first.`,
		Example: "  strata rm web\n  strata rm -f $(strata ps -aq)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				return m.RemoveWith(cmd.Context(), ref, force, volumes)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill and remove a running container")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the container's anonymous volumes too")
	return cmd
}

func (a *app) containerPruneCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Long:  "Remove every container that is not running, with its writable layer, and say how much disk that freed.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				p, err := m.Prune(cmd.Context())
				if len(p.IDs) > 0 {
					fmt.Fprintln(a.Out, "Deleted Containers:")
					for _, id := range p.IDs {
						fmt.Fprintln(a.Out, id)
					}
					fmt.Fprintln(a.Out)
				}
				fmt.Fprintf(a.Out, "Total reclaimed space: %s\n", sizeString(p.Bytes, 3))
				return err
			})
		},
	}
	// Docker asks for confirmation without -f; strata never prompts, and
	// takes -f so scripts written for docker work unchanged.
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (strata never does)")
	return cmd
}

// containerMonitorCommand is the hidden command that a detached container runs
// under: it runs the container, records how it ended, and runs it again
// while its restart policy says so (the supervisor docker has in its daemon).
func (a *app) containerMonitorCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "monitor CONTAINER",
		Short:  "Run a container and watch it (used by run -d and start)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// It idles for the container's whole life: give back what
			// starting it took (an idle monitor is most of what an idle
			// container costs).
			debug.SetGCPercent(20)
			go func() {
				time.Sleep(time.Second)
				debug.FreeOSMemory()
			}()
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				return m.ServeMonitor(cmd.Context(), args[0], func(ctx context.Context, id string) {
					for n := 0; ; n++ {
						code, err := m.Monitor(ctx, id)
						if err != nil {
							a.log.Warn("container ended", "container", id, "err", err)
						}
						c, gerr := m.Get(ctx, id)
						if gerr != nil || !m.ShouldRestart(c, code) {
							return
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(container.RestartDelay(n)):
						}
					}
				})
			})
		},
	}
}

// containerRestoreCommand starts, after a reboot, what should be running.
func (a *app) containerRestoreCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "restore",
		Short: "Start the containers whose restart policy wants them running (run it at boot)",
		Long: `Start every container whose restart policy wants it running: always, unless-stopped
that you did not stop, on-failure whose last run failed. strata has no daemon
to do this when the machine boots; run this then, from a systemd unit:

  [Unit]
  Description=strata containers with a restart policy
  After=network-online.target
  [Service]
  Type=oneshot
  ExecStart=/usr/local/bin/strata container restore
  [Install]
  WantedBy=multi-user.target`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				cs, err := m.List(cmd.Context())
				if err != nil {
					return err
				}
				var errs []error
				for _, c := range cs {
					if !m.WantsRunning(c) {
						continue
					}
					if _, err := m.Start(cmd.Context(), c.ID, a.monitorCommand(c.ID)); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintln(a.Out, c.Name)
				}
				return errors.Join(errs...)
			})
		},
	}
}

func (a *app) logsCommand() *cobra.Command {
	o := container.LogOptions{}
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Show a container's output",
		Long: `Show what a container wrote to its standard output and error, each to the
same stream here. With -f, keep showing new output until the container stops.`,
		Example: "  strata logs web\n  strata logs -f --tail 10 web",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Tail = -1
			if tail != "all" {
				if _, err := fmt.Sscanf(tail, "%d", &o.Tail); err != nil || o.Tail < 0 {
					return fmt.Errorf("--tail %q: want a number of lines or \"all\"", tail)
				}
			}
			var err error
			if o.Since, err = logTime(since, time.Now()); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = logTime(until, time.Now()); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			ctx := cmd.Context()
			return a.withContainers(ctx, func(m *container.Manager) error {
				c, err := m.Get(ctx, args[0])
				if err != nil {
					return err
				}
				running := func() bool {
					now, err := m.Get(ctx, c.ID)
					return err == nil && now.Running() && ctx.Err() == nil
				}
				return container.ReadLog(m.LogPath(c.ID), o, a.Out, a.Err, running)
			})
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep following the output")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "show when each line was written")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "show this many lines from the end")
	cmd.Flags().StringVar(&since, "since", "", "only lines since a time: 2026-01-02T15:04:05Z, a unix time, or a while ago (10m, 1h30m)")
	cmd.Flags().StringVar(&until, "until", "", "only lines before a time, as --since")
	return cmd
}

// logTime reads --since and --until as docker does: RFC 3339 (with or
// without a zone or seconds), a unix timestamp, or a duration before now.
func logTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(s, "."); ok || !strings.ContainsAny(s, "-:T") {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			return time.Unix(n, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want 2006-01-02T15:04:05Z07:00, a unix timestamp or a duration such as 10m", s)
}
