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

	"github.com/strata-dev/strata/internal/hub/distapi"
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
	Cache     bool // a build cache (an index of BuildKit's cache blobs)
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
	More      int    // layers and history lines not shown
	Raw       string // the manifest, indented
	Cache     bool   // a build cache: its config is BuildKit's cache config
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
	Children  []childRow // the first maxChildren distinct ones
	Images    int        // distinct children in all
	Hidden    int        // distinct children not shown
	Listed    int        // entries in the index, repeats included
	Raw       string
	// Blob entries: BuildKit's registry cache lists its config and layers
	// in an index (Cache: it names a cache config).
	Blobs       []blobRow // the first maxChildren distinct ones
	BlobCount   int       // distinct blobs in all
	BlobSize    int64     // of the distinct blobs
	HiddenBlobs int       // distinct blobs not shown
	Cache       bool
}

// blobRow is a blob an index lists: a build cache's config or layer.
type blobRow struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
}

// buildCacheConfig tells a build cache apart.
const buildCacheConfig = image.MediaTypeBuildKitCacheConfig

// Kind names a blob of an index for its page.
func (b blobRow) Kind() string {
	switch {
	case b.MediaType == buildCacheConfig:
		return "cache config"
	case image.IsLayer(b.MediaType):
		return "layer"
	}
	return b.MediaType
}

type childRow struct {
	Digest   digest.Digest
	Platform string
	Size     int64
	Image    bool // a manifest of this repository that can be shown
	Index    bool // an index itself
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

// tagRows summarises a page of a repository's tags.
func (s *site) tagRows(ctx context.Context, repo string, tags []meta.Tag) []tagRow {
	rows := make([]tagRow, 0, len(tags))
	for _, t := range tags {
		row := tagRow{Name: t.Name, Digest: t.Digest, Pushed: t.UpdatedAt, Index: image.IsIndex(t.MediaType)}
		if sum := s.summary(ctx, repo, t.Digest, t.MediaType); sum != nil {
			row.Size, row.Platforms, row.Cache = sum.Size, sum.Platforms, sum.Cache
		}
		rows = append(rows, row)
	}
	return rows
}

// imageView describes an image manifest with its config and history.
func (s *site) imageView(ctx context.Context, repo string, d digest.Digest, mt string, content []byte) *imageView {
	m, err := image.ParseManifest(mt, content)
	if err != nil {
		return nil
	}
	v := &imageView{Digest: d, MediaType: mt, Size: m.Config.Size, Cache: m.Config.MediaType == buildCacheConfig}
	for _, l := range m.Layers {
		v.Size += l.Size
	}
	var cfg *image.Config
	if !v.Cache {
		cfg = s.config(ctx, repo, m.Config.Digest)
	}
	if cfg != nil {
		v.Platform = platformOf(&image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	}
	v.Raw = indent(content)
	if v.Layers = layerRows(m, cfg); len(v.Layers) > maxRows {
		v.More, v.Layers = len(v.Layers)-maxRows, v.Layers[:maxRows]
	}
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

// indexView describes an index and the images it lists, with its text.
func (s *site) indexView(ctx context.Context, repo string, d digest.Digest, mt string, content []byte) *indexView {
	f := s.indexFacts(ctx, repo, d, mt, content)
	if f == nil {
		return nil
	}
	v := *f
	v.Raw = indent(content)
	return &v
}

// indexFacts describes an index: each distinct image it lists once, the
// first maxChildren of them, from their summaries. It is worked out once
// per digest; nil when content is not an index.
func (s *site) indexFacts(ctx context.Context, repo string, d digest.Digest, mt string, content []byte) *indexView {
	return s.facts.get("index "+d.String(), func() (any, bool) {
		v := s.describeIndex(ctx, repo, d, mt, content)
		return v, true
	}).(*indexView)
}

func (s *site) describeIndex(ctx context.Context, repo string, d digest.Digest, mt string, content []byte) *indexView {
	// Only what the page shows is decoded: the index was checked whole
	// when it was pushed.
	var idx struct {
		Manifests []struct {
			MediaType string
			Digest    digest.Digest
			Size      int64
			Platform  *image.Platform
		}
	}
	if !image.IsIndex(mt) || json.Unmarshal(content, &idx) != nil {
		return nil
	}
	v := &indexView{Digest: d, MediaType: mt, Listed: len(idx.Manifests)}
	seen := map[digest.Digest]bool{}
	for _, c := range idx.Manifests {
		if seen[c.Digest] {
			continue
		}
		seen[c.Digest] = true
		if !distapi.IndexesManifest(c.MediaType) {
			v.Cache = v.Cache || c.MediaType == buildCacheConfig
			v.BlobSize += c.Size
			if v.BlobCount++; v.BlobCount <= maxChildren {
				v.Blobs = append(v.Blobs, blobRow{Digest: c.Digest, MediaType: c.MediaType, Size: c.Size})
			}
			continue
		}
		if v.Images++; v.Images > maxChildren {
			continue
		}
		row := childRow{Digest: c.Digest, Platform: platformOf(c.Platform), Size: c.Size, Index: image.IsIndex(c.MediaType)}
		if !row.Index {
			if sum := s.summary(ctx, repo, c.Digest, c.MediaType); sum != nil {
				row.Size, row.Image = sum.Size, true
				if row.Platform == "" && len(sum.Platforms) > 0 {
					row.Platform = sum.Platforms[0]
				}
			}
		}
		if row.Platform != "" {
			v.Size += row.Size
		}
		v.Children = append(v.Children, row)
	}
	v.Hidden = v.Images - len(v.Children)
	v.HiddenBlobs = v.BlobCount - len(v.Blobs)
	return v
}

// indent shows a manifest's text indented, at most maxRaw bytes of it.
func indent(b []byte) string {
	var out bytes.Buffer
	if len(b) > maxRaw || json.Indent(&out, b, "", "  ") != nil {
		out.Reset()
		out.Write(b[:min(len(b), maxRaw)])
	}
	if len(b) > maxRaw || out.Len() > maxRaw {
		out.Truncate(maxRaw)
		out.WriteString("\n… (cut at 64 KiB: the registry API serves the whole manifest)")
	}
	return out.String()
}
