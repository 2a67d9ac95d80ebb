package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/store"
)

type pushOptions struct {
	allTags bool
	quiet   bool
}

// imagePushCommand is `strata image push`, the same command under the image group.
func (a *app) imagePushCommand() *cobra.Command {
	c := a.pushCommand()
	c.GroupID = ""
	return c
}

func (a *app) pushCommand() *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Long: `Upload an image from the local store to a registry.

Only what the registry lacks moves: a blob it has is not sent, a blob that
another repository of the same registry holds (strata pulled it from there, or
pushed it there) is mounted instead of uploaded, and big blobs go in chunks.
Pushing another tag of an image that is there already uploads no blob at all.`,
		Example: `  strata push localhost:5000/team/app:1.2
  strata push -a localhost:5000/team/app`,
		Args:    cobra.ExactArgs(1),
		GroupID: "images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.push(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allTags, "all-tags", "a", false, "push every local tag of the repository")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the pushed image's name")
	return cmd
}

func (a *app) push(ctx context.Context, name string, o pushOptions) error {
	ref, err := image.ParseReference(name)
	if err != nil {
		return err
	}
	if image.RefDigest(ref) != "" {
		return fmt.Errorf("push names a tag, not a digest: %s: %w", name, errdefs.ErrInvalidArgument)
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var tags []reference.NamedTagged
	switch {
	case o.allTags:
		if image.Tag(ref) != "" {
			return fmt.Errorf("--all-tags takes a repository without a tag: %w", errdefs.ErrInvalidArgument)
		}
		if tags, err = localTags(ctx, s, ref); err != nil {
			return err
		}
	case image.Tag(ref) == "":
		if !o.quiet {
			fmt.Fprintln(a.Out, "Using default tag: latest")
		}
		tags = []reference.NamedTagged{reference.TagNameOnly(ref).(reference.NamedTagged)}
	default:
		tags = []reference.NamedTagged{ref.(reference.NamedTagged)}
	}
	client, err := a.registryClient()
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(a.Out, "The push refers to repository [%s]\n", ref.Name())
	}
	for _, t := range tags {
		if err := a.pushOne(ctx, s, client, t, o.quiet); err != nil {
			return withLoginHint(err, reference.Domain(t))
		}
	}
	return nil
}

// localTags lists the local tags of ref's repository.
func localTags(ctx context.Context, s *store.Store, ref reference.Named) ([]reference.NamedTagged, error) {
	imgs, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, img := range imgs {
		for _, t := range img.Tags {
			if tr, err := image.ParseTag(t); err == nil && tr.Name() == ref.Name() {
				names = append(names, t)
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no local tags of %s: %w", image.FamiliarName(ref), errdefs.ErrNotFound)
	}
	slices.Sort(names)
	out := make([]reference.NamedTagged, len(names))
	for i, n := range names {
		out[i], _ = image.ParseTag(n)
	}
	return out, nil
}

func (a *app) pushOne(ctx context.Context, s *store.Store, client *remote.Client, tag reference.NamedTagged, quiet bool) error {
	opts := transfer.PushOptions{}
	if !quiet {
		opts.Progress = newProgressView(a.Out).Event
	}
	res, err := transfer.Push(ctx, s, client, tag, opts)
	if err != nil {
		return err
	}
	if quiet {
		fmt.Fprintln(a.Out, tag.String())
		return nil
	}
	fmt.Fprintf(a.Out, "%s: digest: %s size: %d\n", tag.Tag(), res.Digest, res.Size)
	return nil
}
