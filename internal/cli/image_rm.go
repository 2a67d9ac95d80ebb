package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/network"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

func (a *app) imageRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more images",
		Long: `Remove images, as docker rmi does. Naming a tag removes that tag, and the
image goes with its last tag; naming an image ID removes the image and every
tag it has (with -f when its tags span several repositories, or when a
container uses it). Blobs that no image references any more are deleted.`,
		Example: `  strata image rm busybox:1.36
  strata rmi -f 3f57d9401f8d`,
		ValidArgsFunction: a.completeImages,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			var errs []error
			for _, name := range args {
				r, err := s.Remove(cmd.Context(), name, force)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				a.printRemoval(r, "Untagged: ", "Deleted: ")
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the image even when it is tagged in several repositories or in use")
	return cmd
}

func (a *app) printRemoval(r store.Removal, untagged, deleted string) {
	for _, e := range r.Events {
		if e.Untagged != "" {
			name := e.Untagged
			if ref, err := image.ParseReference(name); err == nil {
				name = image.FamiliarString(ref)
			}
			fmt.Fprintln(a.Out, untagged+name)
		} else {
			fmt.Fprintln(a.Out, deleted+e.Deleted.String())
		}
	}
}

func (a *app) imagePruneCommand() *cobra.Command {
	return a.pruneCommand(&cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Long: `Remove dangling images (images without a tag), or with -a every image that
no container uses, and reclaim the blobs no remaining image needs.`,
		Example: `  strata image prune -f
  strata image prune -a -f`,
	}, false, "WARNING! This will remove all dangling images.",
		"WARNING! This will remove all images without at least one container associated to them.")
}

// pruneCommand completes an image or system prune command: its flags, the
// confirmation (warnings for without and with -a), the pruning.
func (a *app) pruneCommand(cmd *cobra.Command, system bool, warning, warningAll string) *cobra.Command {
	var all, force bool
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w := warning
		if all {
			w = warningAll
		}
		if !force && !a.confirm(w) {
			return nil
		}
		return a.prune(cmd.Context(), all, system)
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	return cmd
}

// confirm asks a yes/no question on the terminal, as docker's prune does.
func (a *app) confirm(warning string) bool {
	fmt.Fprintf(a.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	if a.In == nil {
		return false
	}
	line, _ := bufio.NewReader(a.In).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// staleIngest is how long an interrupted write is kept for resuming before
// system prune discards it.
const staleIngest = 24 * time.Hour

func (a *app) prune(ctx context.Context, all, ingests bool) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.Prune(ctx, all)
	if err != nil {
		return err
	}
	if ingests {
		n, err := s.PruneIngests(ctx, staleIngest)
		if err != nil {
			return err
		}
		r.Freed += n
		// A network a crash left up with no container on it goes down.
		if _, err := network.Open(s.Root()).Prune(); err != nil {
			return err
		}
	}
	if len(r.Events) > 0 {
		fmt.Fprintln(a.Out, "Deleted Images:")
		a.printRemoval(r, "untagged: ", "deleted: ")
		fmt.Fprintln(a.Out)
	}
	fmt.Fprintf(a.Out, "Total reclaimed space: %s\n", sizeString(r.Freed, 4))
	return nil
}
