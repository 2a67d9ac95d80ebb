package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

func (a *app) hubFsckCommand() *cobra.Command {
	var f hubFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "fsck [OPTIONS]",
		Short: "Re-hash every stored blob and quarantine the damaged ones",
		Long: `Check that every blob the hub stores is what its digest promises: read it
back, hash it, and compare. A blob whose content is missing or hashes to
something else is quarantined: the hub serves it no more (a pull gets "blob
unknown" rather than wrong bytes), keeps the manifests that use it, and the
next push of the same content, by anyone, heals it. docker push and the
other clients push a blob the hub says it lacks, so pushing the image again
is enough.

It reads everything as fast as the disk goes; 'strata hub serve' does the
same slowly in the background (--scrub-interval, --scrub-rate). It is safe
while the hub serves. It exits 1 when it found damage.`,
		Example: `  strata hub fsck --dry-run
  strata hub fsck --data-dir /srv/hub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, deps, err := a.openHubData(cmd, &f)
			if err != nil {
				return err
			}
			defer deps.Meta.Close()
			r, err := deps.Blobs.Scrub(cmd.Context(), storage.ScrubOptions{DryRun: dryRun})
			for _, d := range r.Damaged {
				verb := "quarantined"
				if dryRun {
					verb = "would be quarantined"
				}
				fmt.Fprintf(a.Out, "%s (%s): %s: %s\n", d.Digest, humanBytes(d.Size), d.Reason, verb)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "Checked %d blob(s), %s: %d damaged\n", r.Blobs, humanBytes(r.Bytes), len(r.Damaged))
			if len(r.Damaged) > 0 {
				what := "push the images that use them again to heal them"
				if dryRun {
					what = "run without --dry-run to quarantine them"
				}
				return fmt.Errorf("%d damaged blob(s): %s: %w", len(r.Damaged), what, errdefs.ErrConflict)
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what is damaged")
	return cmd
}
