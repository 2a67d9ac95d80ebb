package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) imageMountCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mount IMAGE",
		Short: "Mount an image's file system, read-only, and print where",
		Long: `Mount the union of an image's layers, read-only, and print the directory
where it can be read. It stays mounted until strata image unmount.`,
		Example: "  ls $(strata image mount busybox)/bin\n  strata image unmount busybox",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, m, err := a.containers(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := s.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			dir, err := m.MountImage(cmd.Context(), img)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, dir)
			return nil
		},
	}
}

func (a *app) imageUnmountCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "unmount IMAGE",
		Aliases: []string{"umount"},
		Short:   "Unmount an image mounted with strata image mount",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, m, err := a.containers(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := s.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := m.UnmountImage(cmd.Context(), img.ID); err != nil {
				return err
			}
			fmt.Fprintln(a.Out, img.ID)
			return nil
		},
	}
}

// withContainerCommands adds the container commands to cmds, and image
// mount and unmount to the image group among them.
func (a *app) withContainerCommands(cmds []*cobra.Command) []*cobra.Command {
	for _, c := range cmds {
		if c.Name() == "image" {
			c.AddCommand(a.imageMountCommand(), a.imageUnmountCommand())
		}
	}
	return append(append(cmds, a.containerCommands()...), a.networkCommand(), a.volumeCommand())
}
