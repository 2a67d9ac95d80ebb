package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/image"
)

func (a *app) imageTagCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Give an image another name",
		Long: `Give an image another name: TARGET_IMAGE is a tag that refers to SOURCE_IMAGE.

Names follow Docker's grammar: [REGISTRY/]REPOSITORY[:TAG]. A first component
with a "." or ":" or that is "localhost" is a registry; otherwise the image is
on docker.io, and a name without a "/" is in its "library" namespace. No tag
means "latest". A tag that named another image moves to this one.`,
		Example: `  strata image tag busybox busybox:1.36          # docker.io/library/busybox:1.36
  strata image tag 3f57d9401f8d team/app:v2          # by image ID
  strata image tag app:v2 localhost:5000/team/app:v2 # ready to push to a local registry`,
		ValidArgsFunction: a.completeImages,
		Args:              cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := image.ParseTag(args[1])
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := s.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return s.Tag(cmd.Context(), img.ID, target)
		},
	}
}
