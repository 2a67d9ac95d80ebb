package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/imagearchive"
)

func (a *app) imageSaveCommand() *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save images to an archive",
		Long: `Save images to a file, as docker save does (to standard output when no -o is
given and it is not a terminal). A tag saves the image under that tag; an
image ID saves it untagged.

--format picks the layout: docker-archive (the default: what docker load,
podman load and skopeo's docker-archive: read), oci-archive (an OCI image
layout in a tar), and docker-dir or oci-dir (the same unpacked into the
directory -o names).`,
		Example: `  strata image save -o busybox.tar busybox:latest
  strata image save --format oci-archive -o app.oci.tar app:1 app:2
  strata image save --format oci-dir -o ./layout app:1
  strata save busybox | docker load`,
		ValidArgsFunction: a.completeImages,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := imagearchive.ParseFormat(format)
			if err != nil {
				return err
			}
			return a.imageSave(cmd.Context(), args, f, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file (or directory, for the -dir formats)")
	cmd.Flags().StringVar(&format, "format", string(imagearchive.DockerArchive), "docker-archive, oci-archive, docker-dir or oci-dir")
	return cmd
}

func (a *app) imageSave(ctx context.Context, names []string, f imagearchive.Format, output string) error {
	if f.IsDir() && output == "" {
		return fmt.Errorf("--format %s writes a directory: name it with -o", f)
	}
	var w io.Writer = a.Out
	if output == "" {
		if file, ok := a.Out.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			return fmt.Errorf("cowardly refusing to save to a terminal: use the -o flag or redirect")
		}
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	images, err := imagearchive.Select(ctx, s, names)
	if err != nil {
		return err
	}
	if output == "" || f.IsDir() {
		return imagearchive.Save(ctx, s, images, f, w, output)
	}
	// Write beside the target and rename, so a failed save leaves no half file.
	tmp, err := os.CreateTemp(filepath.Dir(output), ".strata-save-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := imagearchive.Save(ctx, s, images, f, tmp, ""); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}

func (a *app) imageLoadCommand() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from an archive",
		Long: `Load images from an archive made by docker save, podman save, skopeo
(docker-archive: or oci-archive:), strata save, or an OCI image layout
directory; tars may be gzip or zstd compressed. Standard input is read when
-i is not given.

Every blob is verified against its digest and every layer against its
config's diffID; an archive that fails a check loads nothing.`,
		Example: `  strata image load -i busybox.tar
  docker save busybox | strata load
  strata load -i ./oci-layout`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.imageLoad(cmd.Context(), input, quiet)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from this archive file or layout directory instead of standard input")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}

func (a *app) imageLoad(ctx context.Context, input string, quiet bool) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if input == "" {
		if a.In == nil {
			return fmt.Errorf("load: no -i and no standard input")
		}
		// An archive is read at random: spool standard input to a file first.
		// In the store's tmp/, which system prune clears if this process dies.
		dir := filepath.Join(s.Root(), "tmp")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(dir, "stdin-*.tar")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, a.In)
		tmp.Close()
		if err != nil {
			return fmt.Errorf("load: read standard input: %w", err)
		}
		input = tmp.Name()
	}
	loaded, err := imagearchive.Load(ctx, s, input)
	if err != nil {
		return err
	}
	if quiet {
		return nil
	}
	for _, l := range loaded {
		if len(l.Tags) == 0 {
			fmt.Fprintln(a.Out, "Loaded image ID:", l.Image.ID)
		}
		for _, t := range familiar(l.Tags) {
			fmt.Fprintln(a.Out, "Loaded image:", t)
		}
	}
	return nil
}
