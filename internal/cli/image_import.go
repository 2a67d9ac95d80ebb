package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

func (a *app) imageImportCommand() *cobra.Command {
	var changes []string
	var message, platform string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] FILE|DIR|- [REPOSITORY[:TAG]]",
		Short: "Make an image from a root filesystem",
		Long: `Make a one-layer image from a root filesystem: a tarball (plain, gzip or
zstd; "-" reads it from standard input) or a directory, as docker import does.

The layer is checked entry by entry (nothing may escape the root), compressed
once with gzip and stored with an OCI manifest. --change sets what a
Dockerfile would: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
USER, VOLUME, WORKDIR. The history entry records where it came from, or
--message.`,
		Example: `  strata image import rootfs.tar busybox:rootfs
  strata image import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' ./rootfs busybox
  curl -s https://example.com/rootfs.tar.gz | strata import - mydistro:1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := store.ImportOptions{Changes: changes, Message: message, Source: args[0]}
			if len(args) == 2 {
				ref, err := image.ParseTag(args[1])
				if err != nil {
					return err
				}
				opts.Tag = ref
			}
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return err
				}
				opts.Platform = p
			}
			return a.imageImport(cmd.Context(), args[0], opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&changes, "change", "c", nil, "apply a Dockerfile instruction to the image's config (repeatable)")
	f.StringVarP(&message, "message", "m", "", "the comment recorded in the image's history")
	f.StringVar(&platform, "platform", "", "the platform the image is for, os/arch[/variant] (default: this machine's)")
	return cmd
}

func (a *app) imageImport(ctx context.Context, src string, opts store.ImportOptions) error {
	r, err := a.importSource(ctx, src)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	img, err := s.Import(ctx, r, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, img.ID)
	return nil
}

// importSource opens what import reads: standard input, a tarball, or a
// directory made into a layer tar as it is read.
func (a *app) importSource(ctx context.Context, src string) (io.ReadCloser, error) {
	if src == "-" {
		if a.In == nil {
			return nil, fmt.Errorf("import -: no standard input")
		}
		return io.NopCloser(a.In), nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if !fi.IsDir() {
		return os.Open(src)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(ctx, pw, src)) }()
	return pr, nil
}
