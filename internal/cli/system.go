package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func (a *app) systemCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "system",
		Short:   "Show and reclaim the disk strata uses",
		GroupID: "images",
	}
	cmd.AddCommand(a.systemDfCommand(), a.systemPruneCommand())
	return cmd
}

func (a *app) systemDfCommand() *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show the disk the store uses",
		Long: `Show how much disk the local store takes and how much pruning would free.

SIZE counts each stored blob once: layers that images share are on disk once.
With -v, each image shows its SHARED SIZE (blobs other images use too) and
UNIQUE SIZE (blobs only it uses: what removing it frees).`,
		Example: `  strata system df
  strata system df -v`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.systemDf(cmd.Context(), verbose, format)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show each image's shared and unique size")
	cmd.Flags().StringVar(&format, "format", "", "format the summary: 'table', 'table TEMPLATE', 'json', or a Go template")
	return cmd
}

var dfHeaders = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
	"Reclaimable": "RECLAIMABLE", "Blobs": "BLOBS", "Unshared": "WITHOUT SHARING"}

func (a *app) systemDf(ctx context.Context, verbose bool, format string) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.DiskUsage(ctx)
	if err != nil {
		return err
	}
	active := 0
	for _, i := range u.Images {
		if i.InUse > 0 {
			active++
		}
	}
	pct := 0
	if u.Size > 0 {
		pct = int(u.Reclaimable * 100 / u.Size)
	}
	rf, err := parseRowFormat(format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}\t{{.Blobs}}\t{{.Unshared}}")
	if err != nil {
		return err
	}
	row := map[string]string{"Type": "Images", "TotalCount": strconv.Itoa(len(u.Images)), "Active": strconv.Itoa(active),
		"Size": sizeString(u.Size, 4), "Reclaimable": fmt.Sprintf("%s (%d%%)", sizeString(u.Reclaimable, 4), pct),
		"Blobs": strconv.Itoa(u.Blobs), "Unshared": sizeString(u.Unshared, 4)}
	if err := rf.write(a.Out, dfHeaders, []map[string]string{row}); err != nil || !verbose {
		return err
	}
	fmt.Fprintln(a.Out, "\nImages space usage:")
	fmt.Fprintln(a.Out)
	vf, _ := parseRowFormat("", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
	var rows []map[string]string
	for _, i := range u.Images {
		for _, r := range imageRows(i.Image, false, true) {
			r["Size"], r["SharedSize"], r["UniqueSize"] = sizeString(i.Total, 4), sizeString(i.Shared, 4), sizeString(i.Unique, 4)
			r["Containers"] = strconv.Itoa(i.InUse)
			rows = append(rows, r)
		}
	}
	return vf.write(a.Out, imageHeaders, rows)
}

func (a *app) systemPruneCommand() *cobra.Command {
	return a.pruneCommand(&cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Long: `Remove dangling images (or with -a every image no container uses), every
blob that no remaining image references, and writes (ingests) interrupted more
than a day ago, and report the space freed.`,
		Example: `  strata system prune -f
  strata system prune -a -f`,
	}, true, "WARNING! This will remove:\n  - all dangling images\n  - all blobs no image references\n  - writes interrupted more than a day ago",
		"WARNING! This will remove:\n  - all images without at least one container associated to them\n  - all blobs no image references\n  - writes interrupted more than a day ago")
}
