package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// controlCommands are the commands that act on existing containers:
// kill, wait, pause, unpause, rename, restart, top, stats, attach.
func (a *app) controlCommands() []*cobra.Command {
	var signal string
	kill := &cobra.Command{
		Use:     "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short:   "Send a signal to running containers (SIGKILL unless -s)",
		Example: "  strata kill web\n  strata kill -s HUP web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := container.SignalByName(signal)
			if err != nil {
				return err
			}
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				return m.Kill(cmd.Context(), ref, sig)
			})
		},
	}
	kill.Flags().StringVarP(&signal, "signal", "s", "KILL", "the signal to send: a name (HUP, SIGTERM) or a number")
	wait := &cobra.Command{
		Use:     "wait CONTAINER [CONTAINER...]",
		Short:   "Wait for containers to stop, and print their exit statuses",
		Example: "  strata wait job",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				for _, ref := range args {
					code, err := m.Wait(cmd.Context(), ref)
					if err != nil {
						return err
					}
					fmt.Fprintln(a.Out, code)
				}
				return nil
			})
		},
	}
	each := func(use, short string, fn func(m *container.Manager, ctx context.Context, ref string) error) *cobra.Command {
		return &cobra.Command{Use: use + " CONTAINER [CONTAINER...]", Short: short, Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
					return fn(m, cmd.Context(), ref)
				})
			}}
	}
	pause := each("pause", "Freeze every process of running containers", (*container.Manager).Pause)
	unpause := each("unpause", "Thaw paused containers", (*container.Manager).Unpause)
	rename := &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				return m.Rename(cmd.Context(), args[0], args[1])
			})
		},
	}
	var seconds int
	restart := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop containers (as stop does) and start them again",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				c, err := m.Stop(cmd.Context(), ref, time.Duration(seconds)*time.Second)
				if err != nil {
					return err
				}
				_, err = m.Start(cmd.Context(), c.ID, a.monitorCommand(c.ID))
				return err
			})
		},
	}
	restart.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait for the container to stop before killing it")
	top := &cobra.Command{
		Use:     "top CONTAINER [ps OPTIONS]",
		Short:   "Show a container's processes",
		Example: "  strata top web\n  strata top web aux",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				out, err := m.Top(cmd.Context(), args[0], args[1:]...)
				fmt.Fprint(a.Out, out)
				return err
			})
		},
	}
	top.Flags().SetInterspersed(false)
	return []*cobra.Command{kill, wait, pause, unpause, rename, restart, top, a.attachCommand(), a.statsCommand(), a.createCommand(), a.updateCommand(),
		a.containerInspectCommand()}
}

// statsCommand is `strata stats`.
func (a *app) statsCommand() *cobra.Command {
	var all, noStream bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Show containers' use of CPU, memory, network, disk and processes",
		Long: `Show running containers' figures from their cgroups, as docker stats does,
refreshed every second until Ctrl-C, or once with --no-stream.`,
		Example: "  strata stats --no-stream\n  strata stats --format '{{.Name}} {{.MemUsage}}' web",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseRowFormat(format, statsTable)
			if err != nil {
				return err
			}
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				for {
					rows, err := statsRows(cmd.Context(), m, args, all)
					if err != nil {
						return err
					}
					if !noStream {
						fmt.Fprint(a.Out, "\033[2J\033[H")
					}
					if err := f.write(a.Out, statsHeaders, rows); err != nil || noStream {
						return err
					}
					select {
					case <-cmd.Context().Done():
						return nil
					case <-time.After(time.Second):
					}
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers, not only running ones")
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "show the figures once and exit")
	cmd.Flags().StringVar(&format, "format", "", "a Go template, \"table ...\" or \"json\"")
	return cmd
}

const statsTable = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}

// statsSample is how long CPU use is measured over.
const statsSample = 200 * time.Millisecond

// statsRows measures the containers named (or all running ones) at once:
// two readings statsSample apart give the CPU figure.
func statsRows(ctx context.Context, m *container.Manager, refs []string, all bool) ([]map[string]string, error) {
	var cs []container.Container
	if len(refs) == 0 {
		list, err := m.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if all || c.Running() {
				cs = append(cs, c)
			}
		}
	}
	for _, ref := range refs {
		c, err := m.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	before := make([]container.Stats, len(cs))
	for i, c := range cs {
		before[i], _ = m.Stats(c)
	}
	start := time.Now()
	time.Sleep(statsSample)
	elapsed := time.Since(start)
	var rows []map[string]string
	for i, c := range cs {
		s, _ := m.Stats(c)
		cpu := 0.0
		if s.CPUNanos > before[i].CPUNanos {
			cpu = float64(s.CPUNanos-before[i].CPUNanos) / float64(elapsed.Nanoseconds()) * 100
		}
		memPerc := 0.0
		if s.MemoryLimit > 0 {
			memPerc = float64(s.Memory) / float64(s.MemoryLimit) * 100
		}
		rows = append(rows, map[string]string{"ID": c.ID[:12], "Container": c.ID[:12], "Name": c.Name,
			"CPUPerc": fmt.Sprintf("%.2f%%", cpu), "MemPerc": fmt.Sprintf("%.2f%%", memPerc),
			"MemUsage": binarySize(s.Memory) + " / " + binarySize(s.MemoryLimit),
			"NetIO":    sizeString(int64(s.NetRx), 3) + " / " + sizeString(int64(s.NetTx), 3),
			"BlockIO":  sizeString(int64(s.BlockRead), 3) + " / " + sizeString(int64(s.BlockWrite), 3),
			"PIDs":     fmt.Sprint(s.Pids)})
	}
	return rows, nil
}

// binarySize writes bytes as docker stats does: "1.5MiB", "23.45GiB".
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

// containerInspectCommand is `strata container inspect`; the top-level
// `inspect` (inspectCommand) finds a container or an image, as docker's.
func (a *app) containerInspectCommand() *cobra.Command {
	return a.inspectCommand("inspect [OPTIONS] CONTAINER [CONTAINER...]", "Show details of containers", true)
}

func (a *app) inspectCommand(use, short string, containersOnly bool) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: `Show details as a JSON array shaped like docker's (State with Pid,
ExitCode and StartedAt, Config, HostConfig, Mounts, NetworkSettings), or through
a Go template with -f.`,
		Example: "  strata inspect web\n  strata inspect -f '{{.State.Pid}} {{.NetworkSettings.IPAddress}}' web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			find := func(s *store.Store, name string) (any, error) {
				if !container.HasSnapshots(s) {
					if containersOnly {
						return nil, fmt.Errorf("No such container: %s: %w", name, errdefs.ErrNotFound)
					}
					return nil, errdefs.ErrNotFound
				}
				m, err := container.New(s, a.getenv("STRATA_SNAPSHOTTER"), a.log)
				if err != nil {
					return nil, err
				}
				c, err := m.Get(ctx, name)
				if err != nil {
					if containersOnly && errdefs.IsNotFound(err) {
						return nil, fmt.Errorf("%w", err)
					}
					return nil, err
				}
				return m.Inspect(ctx, c), nil
			}
			if containersOnly {
				inner := find
				find = func(s *store.Store, name string) (any, error) {
					v, err := inner(s, name)
					if errdefs.IsNotFound(err) {
						return nil, fmt.Errorf("no such container: %s", name)
					}
					return v, err
				}
			}
			return a.imageInspect(ctx, args, format, "", find)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template, or 'json'")
	return cmd
}
