package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

type historyOptions struct {
	human, noTrunc, quiet bool
	format                string
}

func (a *app) imageHistoryCommand() *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Long: `Show how an image was made, newest step first: when, by which command, how
much each layer holds unpacked, and the comment. Steps that made no layer
show 0B. IMAGE is the image for the newest step, and for an image made here
(commit, build) the local images it was made from, each on the row of its
own newest step; the other rows show <missing>, as they do in docker (an
image that was pulled or loaded shows <missing> below its own row).`,
		Example: `  strata image history busybox
  strata history --no-trunc -H=false app:1
  strata history --format '{{.CreatedBy}}: {{.Size}}' app:1`,
		ValidArgsFunction: a.completeImages,
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.imageHistory(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.human, "human", "H", true, "print sizes and dates in human readable format")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only show image IDs")
	f.StringVar(&o.format, "format", "", "format output: 'table', 'table TEMPLATE', 'json', or a Go template")
	return cmd
}

var historyHeaders = map[string]string{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
	"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}

func (a *app) imageHistory(ctx context.Context, name string, o historyOptions) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	img, err := s.Resolve(ctx, name)
	if err != nil {
		return err
	}
	cb, err := s.Config(ctx, img)
	if err != nil {
		return err
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return err
	}
	diffIDs, err := cfg.LayerHistory()
	if err != nil {
		return err
	}
	sizes, err := s.LayerSizes(ctx, img.ID)
	if err != nil {
		return err
	}
	def := "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	if !o.human {
		def = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	}
	format := o.format
	if o.quiet {
		def, format = "{{.ID}}", ""
	}
	rf, err := parseRowFormat(format, def)
	if err != nil {
		return err
	}
	ids, err := historyIDs(ctx, s, img, len(cfg.History))
	if err != nil {
		return err
	}
	var rows []map[string]string
	for i := len(cfg.History) - 1; i >= 0; i-- {
		h := cfg.History[i]
		id := "<missing>"
		if ids[i] != "" {
			id = formatID(ids[i].String(), !o.noTrunc)
		}
		var created time.Time
		if h.Created != nil {
			created = *h.Created
		}
		size := sizes[diffIDs[i]]
		createdBy := strings.ReplaceAll(h.CreatedBy, "\t", " ")
		if !o.noTrunc {
			createdBy = ellipsis(createdBy, 45)
		}
		row := map[string]string{"ID": id, "CreatedBy": createdBy, "Comment": h.Comment,
			"CreatedSince": since(created), "CreatedAt": created.Local().Format(time.RFC3339),
			"Size": sizeString(size, 3)}
		if !o.human {
			row["CreatedSince"], row["Size"] = row["CreatedAt"], strconv.FormatInt(size, 10)
		}
		rows = append(rows, row)
	}
	return rf.write(a.Out, historyHeaders, rows)
}

// historyIDs gives each of an image's n history entries, oldest first, the
// ID of the image whose newest entry it is: img for the last, its local
// ancestors on theirs, "" where no stored image ends.
func historyIDs(ctx context.Context, s *store.Store, img store.Image, n int) ([]digest.Digest, error) {
	ids := make([]digest.Digest, n)
	if n == 0 {
		return ids, nil
	}
	ids[n-1] = img.ID
	ancestors, err := s.Ancestors(ctx, img)
	if err != nil {
		return nil, err
	}
	for _, a := range ancestors {
		cb, err := s.Config(ctx, a)
		if err != nil {
			return nil, err
		}
		cfg, err := image.ParseConfig(cb)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", a.ID, err)
		}
		if i := len(cfg.History) - 1; i >= 0 && i < n && ids[i] == "" {
			ids[i] = a.ID
		}
	}
	return ids, nil
}
