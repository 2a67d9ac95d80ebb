package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/image"
)

// tagRow is a tag as the repository page lists it.
type tagRow struct {
	Name      string
	Digest    digest.Digest
	Size      int64
	Platforms []string
	Pushed    time.Time
	Index     bool
}

// imageView is one image manifest: its layers in order with the history
// line that made each, and how it runs.
type imageView struct {
	Digest    digest.Digest
	MediaType string
	Platform  string
	Size      int64
	Created   time.Time
	Layers    []layerRow
	Config    *image.ContainerConfig
	Labels    []keyValue
	Raw       string // the manifest, indented
}

// layerRow is one line of the image's history: a layer, or a step that made none.
type layerRow struct {
	N         int
	Command   string
	Size      int64
	Digest    digest.Digest
	Empty     bool
	MediaType string
}

type keyValue struct{ Key, Value string }

// indexView is an index: the images it lists, by platform.
type indexView struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
	Children  []childRow
	Raw       string
}

type childRow struct {
	Digest   digest.Digest
	Platform string
	Size     int64
	Image    bool // a manifest of this repository that can be shown
}

// platformOf writes a platform as docker does: linux/arm64/v8.
func platformOf(p *image.Platform) string {
	if p == nil || p.OS == "" || p.OS == "unknown" {
		return ""
	}
	return image.FormatPlatform(*p)
}

// config reads the image config blob d of repo (nil when it is not a
// readable image config: an artifact).
func (s *site) config(ctx context.Context, repo string, d digest.Digest) *image.Config {
	rc, _, err := s.Blobs.Open(ctx, repo, d)
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, image.MaxManifestSize+1))
	if err != nil {
		return nil
	}
	c, err := image.ParseConfig(b)
	if err != nil {
		return nil
	}
	return c
}

// tagRows summarises a repository's tags.
func (s *site) tagRows(ctx context.Context, repo string, tags []meta.Tag) []tagRow {
	rows := make([]tagRow, 0, len(tags))
	for _, t := range tags {
		row := tagRow{Name: t.Name, Digest: t.Digest, Pushed: t.UpdatedAt, Index: image.IsIndex(t.MediaType)}
		m, err := s.Meta.Manifest(ctx, repo, t.Digest.String())
		if err != nil {
			rows = append(rows, row)
			continue
		}
		if row.Index {
			if iv := s.indexView(ctx, repo, t.Digest, t.MediaType, m.Content); iv != nil {
				row.Size = iv.Size
				for _, c := range iv.Children {
					if c.Platform != "" {
						row.Platforms = append(row.Platforms, c.Platform)
					}
				}
			}
		} else if iv := s.imageView(ctx, repo, t.Digest, t.MediaType, m.Content, false); iv != nil {
			row.Size = iv.Size
			if iv.Platform != "" {
				row.Platforms = []string{iv.Platform}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// sortTags orders rows by name or by push time, newest first.
func sortTags(rows []tagRow, by string) {
	if by == "date" {
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Pushed.After(rows[j].Pushed) })
	}
}

// imageView describes an image manifest; with full, also its config and history.
func (s *site) imageView(ctx context.Context, repo string, d digest.Digest, mt string, content []byte, full bool) *imageView {
	m, err := image.ParseManifest(mt, content)
	if err != nil {
		return nil
	}
	v := &imageView{Digest: d, MediaType: mt, Size: m.Config.Size}
	for _, l := range m.Layers {
		v.Size += l.Size
	}
	cfg := s.config(ctx, repo, m.Config.Digest)
	if cfg != nil {
		v.Platform = platformOf(&image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	}
	if !full {
		return v
	}
	v.Raw = indent(content)
	v.Layers = layerRows(m, cfg)
	if cfg != nil {
		v.Config = &cfg.Config
		if cfg.Created != nil {
			v.Created = *cfg.Created
		}
		for k, val := range cfg.Config.Labels {
			v.Labels = append(v.Labels, keyValue{k, val})
		}
		sort.Slice(v.Labels, func(i, j int) bool { return v.Labels[i].Key < v.Labels[j].Key })
	}
	return v
}

// layerRows pairs the history with the layers, in order, as Docker Hub's
// "Image layers" does; without a usable history, the layers alone.
func layerRows(m *image.Manifest, cfg *image.Config) []layerRow {
	var rows []layerRow
	li := 0
	if cfg != nil && len(cfg.History) > 0 {
		for _, h := range cfg.History {
			row := layerRow{N: len(rows) + 1, Command: cleanCommand(h.CreatedBy), Empty: h.EmptyLayer}
			if !h.EmptyLayer && li < len(m.Layers) {
				l := m.Layers[li]
				row.Size, row.Digest, row.MediaType = l.Size, l.Digest, l.MediaType
				li++
			}
			rows = append(rows, row)
		}
	}
	for ; li < len(m.Layers); li++ { // layers the history does not name
		l := m.Layers[li]
		rows = append(rows, layerRow{N: len(rows) + 1, Size: l.Size, Digest: l.Digest, MediaType: l.MediaType})
	}
	return rows
}

// cleanCommand shows a history line as a Dockerfile step, as Docker Hub does.
// Docker's classic builder writes "/bin/sh -c #(nop) ENV ..." for steps
// and "/bin/sh -c cmd" for RUN; BuildKit writes "RUN /bin/sh -c cmd # buildkit".
func cleanCommand(c string) string {
	c = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(c), "# buildkit"))
	if rest, ok := strings.CutPrefix(c, "/bin/sh -c #(nop) "); ok {
		return strings.TrimSpace(rest)
	}
	if rest, ok := strings.CutPrefix(c, "/bin/sh -c "); ok {
		return "RUN " + rest
	}
	if rest, ok := strings.CutPrefix(c, "RUN /bin/sh -c "); ok {
		return "RUN " + rest
	}
	return c
}

// indexView describes an index and the images it lists.
func (s *site) indexView(ctx context.Context, repo string, d digest.Digest, mt string, content []byte) *indexView {
	idx, err := image.ParseIndex(mt, content)
	if err != nil {
		return nil
	}
	v := &indexView{Digest: d, MediaType: mt, Raw: indent(content)}
	for _, c := range idx.Manifests {
		row := childRow{Digest: c.Digest, Platform: platformOf(c.Platform), Size: c.Size}
		if child, err := s.Meta.Manifest(ctx, repo, c.Digest.String()); err == nil {
			if iv := s.imageView(ctx, repo, c.Digest, child.MediaType, child.Content, false); iv != nil {
				row.Size, row.Image = iv.Size, true
				if row.Platform == "" {
					row.Platform = iv.Platform
				}
			}
		}
		if row.Platform != "" {
			v.Size += row.Size
		}
		v.Children = append(v.Children, row)
	}
	return v
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}
