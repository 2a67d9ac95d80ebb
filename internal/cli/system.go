package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
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
		Short: "Show the disk strata uses",
		Long: `Show how much disk strata takes, and how much each prune would free.

  Images           the stored blobs (compressed layers, configs, manifests),
                   each once however many images share it; ACTIVE images are
                   used by containers; RECLAIMABLE is what 'image prune -a'
                   frees of them. BLOBS and WITHOUT SHARING show what sharing
                   saves.
  Unpacked Layers  the layers unpacked for containers to run on (snapshots,
                   one per stack of layers); ACTIVE ones are needed by the
                   images in use, by containers or by mounts; RECLAIMABLE is
                   what 'image prune -a' frees of them.
  Containers       the containers' writable layers; ACTIVE ones are running;
                   RECLAIMABLE is what 'container prune' frees.
  Build Cache      the build steps kept for 'strata build'; SIZE is what only
                   the cache keeps, ACTIVE entries made a layer that an image
                   has; RECLAIMABLE is what 'builder prune' frees, with the
                   unpacked layers that nothing needs any more (the other
                   stages of a multi-stage build), which any prune frees.

With -v, each type is listed item by item: each image with its SHARED SIZE
(blobs other images use too) and UNIQUE SIZE (blobs only it uses: what
removing it frees).`,
		Example: `  strata system df
  strata system df -v
  strata system df --format '{{.Type}}: {{.Reclaimable}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.systemDf(cmd.Context(), verbose, format)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list each image, unpacked layer, container and build cache entry")
	cmd.Flags().StringVar(&format, "format", "", "format the summary: 'table', 'table TEMPLATE', 'json', or a Go template")
	return cmd
}

var dfHeaders = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
	"Reclaimable": "RECLAIMABLE", "Blobs": "BLOBS", "Unshared": "WITHOUT SHARING"}

// diskReport is what system df shows: the store's blobs, the unpacked
// layers, and the containers with their writable layers' sizes.
type diskReport struct {
	store.Usage
	layers     container.UnpackedUsage
	containers []container.Container
	rw         map[string]int64 // container ID: bytes of its writable layer
}

// dfRow is one row of the summary, in numbers.
type dfRow struct {
	kind              string
	total, active     int
	size, reclaimable int64
	percent           bool // docker shows none for the build cache
	blobs, unshared   string
}

func (a *app) diskUsage(ctx context.Context) (diskReport, error) {
	s, err := a.openStore(ctx)
	if err != nil {
		return diskReport{}, err
	}
	defer s.Close()
	var r diskReport
	if r.Usage, err = s.DiskUsage(ctx); err != nil || !container.HasSnapshots(s) {
		return r, err
	}
	m, err := container.New(s, a.getenv("STRATA_SNAPSHOTTER"), a.log)
	if err != nil {
		return r, err
	}
	var inUse []store.Image
	for _, i := range r.Images {
		if i.InUse > 0 {
			inUse = append(inUse, i.Image)
		}
	}
	if r.layers, err = m.Unpacked(ctx, inUse); err != nil {
		return r, err
	}
	if r.containers, err = m.List(ctx); err != nil {
		return r, err
	}
	r.rw = map[string]int64{}
	for _, c := range r.containers {
		n, err := m.Usage(ctx, c.ID)
		if err != nil && !errdefs.IsNotFound(err) { // a container whose layer is gone takes nothing
			return r, err
		}
		r.rw[c.ID] = n
	}
	return r, nil
}

// rows are the summary: one row per type, as docker's.
func (r diskReport) rows() []dfRow {
	images := dfRow{kind: "Images", total: len(r.Images), size: r.ImagesSize, reclaimable: r.ImagesReclaimable,
		percent: true, blobs: strconv.Itoa(r.Blobs - r.CacheBlobs), unshared: sizeString(r.Unshared, 4)}
	for _, i := range r.Images {
		if i.InUse > 0 {
			images.active++
		}
	}
	layers := dfRow{kind: "Unpacked Layers", total: len(r.layers.Layers), size: r.layers.Size,
		reclaimable: r.layers.Inactive, percent: true}
	for _, l := range r.layers.Layers {
		if l.Active {
			layers.active++
		}
	}
	containers := dfRow{kind: "Containers", total: len(r.containers), percent: true}
	for _, c := range r.containers {
		containers.size += r.rw[c.ID]
		if c.Running() {
			containers.active++
		} else {
			containers.reclaimable += r.rw[c.ID]
		}
	}
	cache := dfRow{kind: "Build Cache", total: len(r.Cache), size: r.CacheSize,
		reclaimable: r.CacheReclaimable + r.layers.Unused}
	for _, e := range r.Cache {
		if e.Shared {
			cache.active++
		}
	}
	return []dfRow{images, layers, containers, cache}
}

func (row dfRow) fields() map[string]string {
	reclaimable := sizeString(row.reclaimable, 4)
	if row.percent && row.size > 0 {
		reclaimable += fmt.Sprintf(" (%d%%)", row.reclaimable*100/row.size)
	}
	return map[string]string{"Type": row.kind, "TotalCount": strconv.Itoa(row.total), "Active": strconv.Itoa(row.active),
		"Size": sizeString(row.size, 4), "Reclaimable": reclaimable, "Blobs": row.blobs, "Unshared": row.unshared}
}

func (a *app) systemDf(ctx context.Context, verbose bool, format string) error {
	rf, err := parseRowFormat(format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}\t{{.Blobs}}\t{{.Unshared}}")
	if err != nil {
		return err
	}
	r, err := a.diskUsage(ctx)
	if err != nil {
		return err
	}
	var rows []map[string]string
	for _, row := range r.rows() {
		rows = append(rows, row.fields())
	}
	if err := rf.write(a.Out, dfHeaders, rows); err != nil || !verbose {
		return err
	}
	return a.dfDetails(r)
}

// dfDetails writes system df -v's sections, one per type.
func (a *app) dfDetails(r diskReport) error {
	section := func(title, format string, headers map[string]string, rows []map[string]string) error {
		fmt.Fprintf(a.Out, "\n%s\n\n", title)
		f, err := parseRowFormat("", format)
		if err != nil {
			return err
		}
		return f.write(a.Out, headers, rows)
	}
	var rows []map[string]string
	for _, i := range r.Images {
		for _, row := range imageRows(i.Image, false, true) {
			row["Size"], row["SharedSize"], row["UniqueSize"] = sizeString(i.Total, 4), sizeString(i.Shared, 4), sizeString(i.Unique, 4)
			row["Containers"] = strconv.Itoa(i.InUse)
			rows = append(rows, row)
		}
	}
	if err := section("Images space usage:", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		imageHeaders, rows); err != nil {
		return err
	}
	layers := append([]container.LayerUsage(nil), r.layers.Layers...)
	sort.SliceStable(layers, func(i, j int) bool { return layers[i].Size > layers[j].Size })
	rows = nil
	for _, l := range layers {
		usedBy := "containers" // or mounts, or images that containers use
		switch {
		case !l.Needed:
			usedBy = "nothing"
		case !l.Active:
			usedBy = "images"
		}
		rows = append(rows, map[string]string{"Layer": shortLayer(l.Name), "Size": sizeString(l.Size, 4), "UsedBy": usedBy})
	}
	if err := section("Unpacked layers space usage:", "table {{.Layer}}\t{{.Size}}\t{{.UsedBy}}",
		map[string]string{"Layer": "LAYER", "Size": "SIZE", "UsedBy": "USED BY"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, c := range r.containers {
		row := psRow(c, true)
		row["Size"] = sizeString(r.rw[c.ID], 4)
		rows = append(rows, row)
	}
	if err := section("Containers space usage:", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Size}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Names}}",
		psHeaders, rows); err != nil {
		return err
	}
	rows = nil
	for _, e := range r.Cache {
		kind := "layer"
		if e.Layer == "" {
			kind = "config"
		}
		rows = append(rows, map[string]string{"ID": e.Key.Encoded()[:25], "Type": kind, "Size": sizeString(e.Size, 4),
			"Created": since(e.Created), "LastUsed": since(e.LastUsed), "Shared": strconv.FormatBool(e.Shared)})
	}
	return section(fmt.Sprintf("Build cache usage: %s", sizeString(r.CacheSize, 4)),
		"table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Shared}}",
		map[string]string{"ID": "CACHE ID", "Type": "CACHE TYPE", "Size": "SIZE", "Created": "CREATED",
			"LastUsed": "LAST USED", "Shared": "SHARED"}, rows)
}

// shortLayer is an unpacked layer's name as df -v lists it: the chainID's
// first 12 hex digits, with "init-" before those of a container init layer.
func shortLayer(name string) string {
	prefix, rest := "", name
	if r, ok := strings.CutPrefix(name, "init-"); ok {
		prefix, rest = "init-", r
	}
	if d, err := digest.Parse(rest); err == nil && len(d.Encoded()) >= 12 {
		rest = d.Encoded()[:12]
	}
	return prefix + rest
}

func (a *app) systemPruneCommand() *cobra.Command {
	return a.pruneCommand(&cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Long: `Remove dangling images (or with -a every image no container uses), every
blob that no remaining image references, and writes (ingests) interrupted more
than a day ago, and report the space freed. Networks that no container is on
are taken down (their slirp4netns stops) until a container needs them again.`,
		Example: `  strata system prune -f
  strata system prune -a -f`,
	}, true, "WARNING! This will remove:\n  - all dangling images\n  - all blobs no image references\n  - writes interrupted more than a day ago",
		"WARNING! This will remove:\n  - all images without at least one container associated to them\n  - all blobs no image references\n  - writes interrupted more than a day ago")
}
