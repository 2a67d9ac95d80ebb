package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

type lsOptions struct {
	all, quiet, digests, noTrunc bool
	filters                      []string
	format                       string
}

func (a *app) imageLsCommand() *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Long: `List the images in the local store, newest first: one row per tag, and
<none> for an image that has no tag (a dangling image, which prune removes).

SIZE is what the image's layers hold unpacked, as docker counts it; layers
shared between images count for each of them (see "strata system df" for the
disk they take once).`,
		Example: `  strata image ls
  strata images busybox
  strata images --filter dangling=true -q
  strata images --filter label=org.example.kind=golden --filter before=app:2
  strata images --format '{{.Repository}}:{{.Tag}} {{.Size}}'
  strata images --format json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.filters = append(o.filters, "reference="+args[0])
			}
			return a.imageLs(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "show all images (strata keeps no intermediate images, so the same as without)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only show image IDs")
	f.BoolVar(&o.digests, "digests", false, "show digests")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "filter output: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE")
	f.StringVar(&o.format, "format", "", "format output: 'table', 'table TEMPLATE', 'json', or a Go template")
	return cmd
}

// imageFilter decides which images (and which of their tags) are listed.
type imageFilter struct {
	dangling   *bool
	references []string
	labels     []string
	before     *time.Time
	since      *time.Time
}

func (a *app) parseImageFilters(ctx context.Context, s *store.Store, filters []string) (imageFilter, error) {
	var f imageFilter
	for _, kv := range filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter %q (expected name=value): %w", kv, errdefs.ErrInvalidArgument)
		}
		switch k {
		case "dangling":
			b := v == "true" || v == "1"
			if !b && v != "false" && v != "0" {
				return f, fmt.Errorf("invalid filter 'dangling=%s': want true or false: %w", v, errdefs.ErrInvalidArgument)
			}
			f.dangling = &b
		case "reference":
			if _, err := reference.FamiliarMatch(v, reference.TagNameOnly(mustNamed("busybox"))); err != nil {
				return f, fmt.Errorf("invalid reference filter %q: %v: %w", v, err, errdefs.ErrInvalidArgument)
			}
			f.references = append(f.references, v)
		case "label":
			f.labels = append(f.labels, v)
		case "before", "since":
			img, err := s.Resolve(ctx, v)
			if err != nil {
				return f, fmt.Errorf("filter %s: %w", kv, err)
			}
			t := img.Created
			if k == "before" {
				f.before = &t
			} else {
				f.since = &t
			}
		default:
			return f, fmt.Errorf("invalid filter %q: want dangling, reference, label, before or since: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

func mustNamed(s string) reference.Named {
	n, _ := reference.ParseNormalizedNamed(s)
	return n
}

// keep reports whether img is listed, and with which of its tags.
func (f imageFilter) keep(img store.Image) (store.Image, bool) {
	if f.dangling != nil && *f.dangling != (len(img.Tags) == 0) {
		return img, false
	}
	if f.before != nil && !img.Created.Before(*f.before) || f.since != nil && !img.Created.After(*f.since) {
		return img, false
	}
	for _, l := range f.labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := img.Labels[k]
		if !ok || hasValue && got != v {
			return img, false
		}
	}
	if len(f.references) > 0 {
		var tags []string
		for _, t := range img.Tags {
			ref, err := reference.ParseNormalizedNamed(t)
			if err != nil {
				continue
			}
			for _, p := range f.references {
				if ok, _ := reference.FamiliarMatch(p, ref); ok {
					tags = append(tags, t)
					break
				}
			}
		}
		if len(tags) == 0 {
			return img, false
		}
		img.Tags = tags
	}
	return img, true
}

var imageHeaders = map[string]string{"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "VIRTUAL SIZE",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}

func (a *app) imageLs(ctx context.Context, o lsOptions) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	filter, err := a.parseImageFilters(ctx, s, o.filters)
	if err != nil {
		return err
	}
	images, err := s.Images(ctx)
	if err != nil {
		return err
	}
	def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if o.digests {
		def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	if o.quiet {
		def = "{{.ID}}"
	}
	format := o.format
	if o.quiet {
		format = ""
	}
	rf, err := parseRowFormat(format, def)
	if err != nil {
		return err
	}
	var rows []map[string]string
	for _, img := range images {
		if img, ok := filter.keep(img); ok {
			rows = append(rows, imageRows(img, o.digests, !o.noTrunc)...)
		}
	}
	return rf.write(a.Out, imageHeaders, rows)
}

// imageRows are an image's rows as Docker lists them: one per tag (and per
// digest of its repository with --digests), a repository known only by
// digest gets a <none> tag, and an image without names one <none> row.
func imageRows(img store.Image, showDigests, trunc bool) []map[string]string {
	tags := map[string][]string{}
	digests := map[string][]string{}
	for _, t := range img.Tags {
		repo, tag := image.SplitNormalized(t)
		tags[repo] = append(tags[repo], tag)
	}
	for _, d := range img.RepoDigests {
		repo, dgst := image.SplitNormalized(d)
		digests[repo] = append(digests[repo], dgst)
	}
	var rows []map[string]string
	row := func(repo, tag, dgst string) {
		rows = append(rows, imageRow(img, repo, tag, dgst, trunc))
	}
	for _, repo := range sortedKeys(tags) {
		ds := digests[repo]
		delete(digests, repo)
		for _, tag := range tags[repo] {
			if !showDigests || len(ds) == 0 {
				row(repo, tag, "<none>")
				continue
			}
			for _, d := range ds {
				row(repo, tag, d)
			}
		}
	}
	for _, repo := range sortedKeys(digests) {
		if !showDigests {
			row(repo, "<none>", "<none>")
			continue
		}
		for _, d := range digests[repo] {
			row(repo, "<none>", d)
		}
	}
	if len(rows) == 0 {
		row("<none>", "<none>", "<none>")
	}
	return rows
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func imageRow(img store.Image, repo, tag, dgst string, trunc bool) map[string]string {
	return map[string]string{
		"Repository": repo, "Tag": tag, "Digest": dgst, "ID": formatID(img.ID.String(), trunc),
		"CreatedSince": since(img.Created), "CreatedAt": img.Created.Local().Truncate(time.Second).String(),
		"Size": sizeString(img.Size, 3), "VirtualSize": sizeString(img.Size, 4),
		"SharedSize": "N/A", "UniqueSize": "N/A", "Containers": "N/A",
	}
}

// formatID is an image ID as Docker shows it: 12 hex digits, or in full.
func formatID(id string, trunc bool) string {
	if !trunc {
		return id
	}
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}
