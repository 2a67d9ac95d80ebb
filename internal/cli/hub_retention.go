package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/retention"
)

func (a *app) hubRetentionCommand() *cobra.Command {
	var f hubFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "retention [OPTIONS]",
		Short: "Delete the tags and manifests the tag policies' retention rules let go",
		Long: `Run the retention rules of every repository's and namespace's tag policy now
(the hub runs them every --retention-interval by itself): delete the tags no
rule keeps and, where the policy says so, the manifests nothing kept refers to.
Immutable tags always stay. Deletions go through the registry's own path, so
the audit log and webhooks hear of them; the garbage collector frees the blobs.
With --dry-run, list what would go and delete nothing.`,
		Example: `  strata hub retention --dry-run
  strata hub retention --data-dir /srv/hub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, deps, err := a.openHubData(cmd, &f)
			if err != nil {
				return err
			}
			defer deps.Meta.Close()
			plans, res, err := hub.Retention(cfg, deps).Run(cmd.Context(), dryRun)
			tags, manifests := 0, 0
			for _, p := range plans {
				fmt.Fprintf(a.Out, "%s (%s %s: %s)\n", p.Repository, p.Rules.Scope, p.Rules.Name, retention.Describe(p.Rules))
				for _, t := range p.Tags {
					fmt.Fprintf(a.Out, "  tag       %s  %s\n", t.Name, t.Digest)
				}
				for _, d := range p.Manifests {
					fmt.Fprintf(a.Out, "  manifest  %s\n", d)
				}
				tags, manifests = tags+len(p.Tags), manifests+len(p.Manifests)
			}
			if dryRun {
				fmt.Fprintf(a.Out, "Would delete %d tag(s) and %d manifest(s) from %d repository(ies)\n", tags, manifests, len(plans))
			} else {
				fmt.Fprintf(a.Out, "Deleted %d tag(s) and %d manifest(s) from %d repository(ies); %d changed meanwhile and stayed\n",
					res.Tags, res.Manifests, len(plans), res.Skipped)
			}
			return err
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be deleted")
	return cmd
}
