package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime/container"
)

func (a *app) diffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Show what a container changed in its image's files",
		Long: `Show what a container changed in its image's files, as docker diff does:
A for an added path, C for a changed one (a directory whose contents
changed is changed), D for a deleted one.`,
		Example: "  strata diff web",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				changes, err := m.Diff(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				for _, c := range changes {
					fmt.Fprintln(a.Out, c)
				}
				return nil
			})
		},
	}
}

func (a *app) commitCommand() *cobra.Command {
	var o container.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Make a new image of a container's changes",
		Long: `Make a new image of a container, as docker commit does: its image's layers,
plus one layer of what the container changed (deletions as whiteouts),
with a config that runs the way the container ran and a history entry.
The image can be run, saved and pushed like any other.`,
		Example: `  strata commit web myapp:v2
  strata commit -m "add the site" -c 'CMD ["httpd", "-f"]' -c 'EXPOSE 80' web myapp:v3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Ref = args[1]
			}
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				img, err := m.Commit(cmd.Context(), args[0], o)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.Out, img.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "a commit message, kept in the history")
	cmd.Flags().StringVarP(&o.Author, "author", "a", "", "the author, e.g. \"Jane <jane@example.com>\"")
	cmd.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, ...")
	return cmd
}

func (a *app) exportCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "export [OPTIONS] CONTAINER",
		Short:   "Write a container's whole file system as a tar",
		Long:    "Write a container's whole file system (its image's layers and its own changes, flattened) as a tar archive, as docker export does.",
		Example: "  strata export web > web.tar\n  strata export -o web.tar web",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var w io.Writer = a.Out
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			} else if f, ok := a.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return fmt.Errorf("refusing to write a tar to a terminal: use -o FILE or redirect the output: %w", errdefs.ErrInvalidArgument)
			}
			// A reader that goes early (export | head) must not kill strata
			// by SIGPIPE with the container's file system still mounted: the
			// write fails instead, and the mount goes.
			signal.Ignore(syscall.SIGPIPE)
			defer signal.Reset(syscall.SIGPIPE)
			err := a.withContainers(cmd.Context(), func(m *container.Manager) error {
				return m.Export(cmd.Context(), args[0], w)
			})
			if errors.Is(err, syscall.EPIPE) {
				return ExitError{Code: 141} // as a shell reports SIGPIPE, without the noise
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}
