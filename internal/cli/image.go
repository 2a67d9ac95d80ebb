package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/store"
)

// imageCommand is `strata image`, the group of image commands.
func (a *app) imageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image",
		Short:   "Manage images in the local store",
		GroupID: "images",
		Long: `Manage the images in strata's local store (--root).

Every blob (layer, config, manifest) is stored once, however many images
use it; removing an image reclaims the blobs that no other image needs.`,
	}
	cmd.AddCommand(a.imageImportCommand(), a.imageLsCommand(), a.imageTagCommand(), a.imageRmCommand(),
		a.imagePruneCommand(), a.imageHistoryCommand(), a.imageInspectCommand(), a.imageSaveCommand(),
		a.imageLoadCommand(), a.imagePullCommand(), a.imagePushCommand(), a.imageBuildCommand())
	return cmd
}

// imageShortcuts are Docker's top-level shortcuts to image commands.
func (a *app) imageShortcuts() []*cobra.Command {
	shortcut := func(c *cobra.Command, use string) *cobra.Command {
		c.Use = use
		c.Aliases = nil
		c.GroupID = "images"
		return c
	}
	images := shortcut(a.imageLsCommand(), "images [OPTIONS] [REPOSITORY[:TAG]]")
	return []*cobra.Command{images,
		shortcut(a.imageRmCommand(), "rmi [OPTIONS] IMAGE [IMAGE...]"),
		shortcut(a.imageImportCommand(), "import [OPTIONS] FILE|DIR|- [REPOSITORY[:TAG]]"),
		shortcut(a.imageTagCommand(), "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
		shortcut(a.imageHistoryCommand(), "history [OPTIONS] IMAGE"),
		shortcut(a.imageSaveCommand(), "save [OPTIONS] IMAGE [IMAGE...]"),
		shortcut(a.imageLoadCommand(), "load [OPTIONS]")}
}

// openStore opens the local store at --root.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	s, err := store.Open(ctx, a.root)
	if err == nil {
		a.wireSnapshots(s) // container_store.go: unpack what is added, collect what is not needed
	}
	return s, err
}

// completeImages offers the store's image names for shell completion.
func (a *app) completeImages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if err := a.setup(); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	s, err := a.openStore(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer s.Close()
	images, err := s.Images(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, img := range images {
		names = append(names, familiar(img.Tags)...)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
