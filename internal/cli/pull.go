package cli

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/store"
)

type pullOptions struct {
	allTags     bool
	platform    string
	quiet       bool
	concurrency int
}

// imagePullCommand is `strata image pull`, the same command under the image group.
func (a *app) imagePullCommand() *cobra.Command {
	c := a.pullCommand()
	c.GroupID = ""
	return c
}

func (a *app) pullCommand() *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Long: `Download an image from a registry into the local store.

Only what is missing moves: when the image is already here nothing but its
manifest's digest is asked for; a layer that is stored already, in any
compression, is not downloaded again; the other layers download in parallel,
are verified while they stream, and resume where they stopped when a pull was
interrupted. As root, layers are unpacked into snapshots, side by side, while
the others still download, so the image is ready to run. From an index (a multi-platform image), the image for this
machine, or for --platform, is pulled.`,
		Example: `  strata pull busybox
  strata pull localhost:5000/team/app:1.2
  strata pull --platform linux/arm64 alpine:3.20
  strata pull -a localhost:5000/team/app`,
		Args:    cobra.ExactArgs(1),
		GroupID: "images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pull(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allTags, "all-tags", "a", false, "download every tagged image of the repository")
	f.StringVar(&o.platform, "platform", "", "the platform to pull from an index, os/arch[/variant] (default: this machine's)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the image's name")
	f.IntVar(&o.concurrency, "max-concurrent-downloads", transfer.DefaultConcurrentDownloads, "how many layers to download at once")
	return cmd
}

func (a *app) pull(ctx context.Context, name string, o pullOptions) error {
	ref, err := image.ParseReference(name)
	if err != nil {
		return err
	}
	opts := transfer.PullOptions{MaxConcurrent: o.concurrency}
	if o.platform != "" {
		if opts.Platform, err = image.ParsePlatform(o.platform); err != nil {
			return err
		}
	}
	if o.concurrency < 1 {
		return fmt.Errorf("--max-concurrent-downloads must be at least 1: %w", errdefs.ErrInvalidArgument)
	}
	client, err := a.registryClient()
	if err != nil {
		return err
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if opts.Unpacker, err = a.pullUnpacker(s); err != nil {
		return err
	}
	refs := []reference.Named{ref}
	switch {
	case o.allTags:
		if image.Tag(ref) != "" || image.RefDigest(ref) != "" {
			return fmt.Errorf("--all-tags takes a repository without a tag or digest: %w", errdefs.ErrInvalidArgument)
		}
		if refs, err = allTags(ctx, client, ref); err != nil {
			return withLoginHint(err, reference.Domain(ref))
		}
	case image.Tag(ref) == "" && image.RefDigest(ref) == "":
		if !o.quiet {
			fmt.Fprintln(a.Out, "Using default tag: latest")
		}
		refs = []reference.Named{reference.TagNameOnly(ref)}
	}
	for _, r := range refs {
		if err := a.pullOne(ctx, s, client, r, opts, o.quiet); err != nil {
			return withLoginHint(err, reference.Domain(r))
		}
	}
	return nil
}

// allTags lists the references of every tag of ref's repository.
func allTags(ctx context.Context, client *remote.Client, ref reference.Named) ([]reference.Named, error) {
	tags, err := client.Repository(reference.Domain(ref), reference.Path(ref), remote.Pull).Tags(ctx)
	if err != nil {
		return nil, err
	}
	var refs []reference.Named
	for _, t := range tags {
		tagged, err := reference.WithTag(ref, t)
		if err != nil {
			return nil, fmt.Errorf("the registry lists an invalid tag %q: %w", t, errdefs.ErrInvalidArgument)
		}
		refs = append(refs, tagged)
	}
	return refs, nil
}

func (a *app) pullOne(ctx context.Context, s *store.Store, client *remote.Client, ref reference.Named, opts transfer.PullOptions, quiet bool) error {
	if !quiet {
		what := image.Tag(ref)
		if what == "" {
			what = image.RefDigest(ref).String()
		}
		fmt.Fprintf(a.Out, "%s: Pulling from %s\n", what, reference.Path(ref))
		opts.Progress = newProgressView(a.Out).Event
	}
	res, err := transfer.Pull(ctx, s, client, ref, opts)
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(a.Out, "Digest: %s\n", res.Digest)
		if res.UpToDate {
			fmt.Fprintf(a.Out, "Status: Image is up to date for %s\n", image.FamiliarString(ref))
		} else {
			fmt.Fprintf(a.Out, "Status: Downloaded newer image for %s\n", image.FamiliarString(ref))
		}
	}
	fmt.Fprintln(a.Out, ref.String())
	return nil
}
