package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
)

// updateCommand is `strata update`: a container's limits and restart
// policy changed in place, as `docker update`.
func (a *app) updateCommand() *cobra.Command {
	var memory, restart string
	var cpus float64
	var pids int64
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Change the limits and restart policy of containers",
		Long: `Change containers' limits and restart policy. A running container's
cgroups change at once (runc update); every container keeps the new
values for its next start. Only the options given change.`,
		Example: "  strata update --memory 512m --cpus 1.5 web\n  strata update --pids-limit -1 job\n  strata update --restart unless-stopped web db",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u container.Update
			fl := cmd.Flags()
			if fl.Changed("memory") {
				n, err := parseMemory(memory)
				if err != nil {
					return err
				}
				u.Memory = &n
			}
			if fl.Changed("cpus") {
				u.CPUs = &cpus
			}
			if fl.Changed("pids-limit") {
				u.PidsLimit = &pids
			}
			if fl.Changed("restart") {
				p, err := container.ParseRestartPolicy(restart)
				if err != nil {
					return err
				}
				u.Restart = &p
			}
			if u == (container.Update{}) {
				return fmt.Errorf("update: say what to change: --memory, --cpus, --pids-limit or --restart: %w", errdefs.ErrInvalidArgument)
			}
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, ref string) error {
				_, err := m.Update(cmd.Context(), ref, u)
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&memory, "memory", "m", "", "memory limit: 512m, 2g, ...; 0 for none")
	fl.Float64Var(&cpus, "cpus", 0, "how many CPUs the container may use: 0.5, 2, ...; 0 for no limit")
	fl.Int64Var(&pids, "pids-limit", 0, fmt.Sprintf("how many processes it may have (0 for the default, %d; -1 for no limit)", runtime.DefaultPidsLimit))
	fl.StringVar(&restart, "restart", "", "restart policy: no, on-failure[:N], always or unless-stopped")
	return cmd
}
