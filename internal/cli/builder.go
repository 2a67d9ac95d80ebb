package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/errdefs"
)

// builderCommand is `strata builder`, the build cache's commands.
func (a *app) builderCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "builder",
		Short:   "Manage the build cache",
		GroupID: "images",
		Long: `Manage the cache of 'strata build': for each step, the config and layer it
made, kept in the store (with their blobs) across builds until pruned.`,
	}
	cmd.AddCommand(a.builderPruneCommand())
	return cmd
}

func (a *app) builderPruneCommand() *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove the build cache",
		Long: `Remove the build cache: the next build runs every step again. The layers and
configs that no image uses any more are deleted from the store, and so are
the directories of RUN --mount=type=cache; the space they took is reported. With --filter until=DURATION, only the steps
not used for that long go.`,
		Example: "  strata builder prune -f\n  strata builder prune -f --filter until=24h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var before time.Time
			for _, f := range filters {
				k, v, _ := strings.Cut(f, "=")
				d, err := time.ParseDuration(v)
				if k != "until" || err != nil || d < 0 {
					return fmt.Errorf("--filter %q: strata takes until=DURATION, such as until=24h: %w", f, errdefs.ErrInvalidArgument)
				}
				before = time.Now().Add(-d)
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := s.PruneCache(cmd.Context(), before)
			if err == nil {
				var freed int64
				freed, err = build.PruneCacheMounts(s.Root(), before)
				p.Freed += freed
			}
			if len(p.Keys) > 0 {
				fmt.Fprintln(a.Out, "Deleted build cache objects:")
				for _, k := range p.Keys {
					fmt.Fprintln(a.Out, k.Encoded()[:25])
				}
				fmt.Fprintln(a.Out)
			}
			fmt.Fprintf(a.Out, "Total reclaimed space: %s\n", sizeString(p.Freed, 3))
			return err
		},
	}
	// Docker asks for confirmation without -f and keeps cache that images
	// use without -a; strata never prompts, and the cache of an image it
	// keeps is only the configs, so -a and -f change nothing: they are taken
	// so that scripts written for docker work unchanged.
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (strata never does)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all build cache (strata always does)")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "only what matches: until=DURATION (not used for that long)")
	return cmd
}
