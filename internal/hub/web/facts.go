package web

import (
	"container/list"
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/strata-dev/strata/internal/image"
)

// What a page may cost is bounded: a manifest's or a config's facts are
// worked out once per digest and kept (a digest's bytes never change, so
// they hold for every repository that has it), an index shows its first
// maxChildren distinct images, an image its first maxRows layers, and a
// manifest's text at most maxRaw bytes.
const (
	maxChildren = 32
	maxRows     = 500
	maxRaw      = 64 << 10
	factsKept   = 4096
)

// summary is what a listing shows of a manifest.
type summary struct {
	Index     bool
	Cache     bool     // an index of a build cache's blobs
	Size      int64    // an image's config and layers; an index's images and blobs
	Platforms []string // an image's own, an index's images'
	Images    int      // an index's distinct images (it may list more than it shows)
}

// factsCache keeps summaries and config platforms by digest, the most
// recently used, and works each out once however many ask at the same time.
type factsCache struct {
	mu    sync.Mutex
	order *list.List // of *factsEntry, most recent first
	byKey map[string]*list.Element
	group singleflight.Group
}

type factsEntry struct {
	key string
	val any
}

func newFactsCache() *factsCache {
	return &factsCache{order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the value kept under key, or makes it with make (once, for
// all who ask meanwhile) and keeps it when ok.
func (c *factsCache) get(key string, make func() (v any, ok bool)) any {
	c.mu.Lock()
	if e, hit := c.byKey[key]; hit {
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*factsEntry).val
	}
	c.mu.Unlock()
	v, _, _ := c.group.Do(key, func() (any, error) {
		v, ok := make()
		if ok {
			c.put(key, v)
		}
		return v, nil
	})
	return v
}

func (c *factsCache) put(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, hit := c.byKey[key]; hit {
		return
	}
	c.byKey[key] = c.order.PushFront(&factsEntry{key, v})
	for c.order.Len() > factsKept {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*factsEntry).key)
	}
}

// summary of manifest d (of media type mt) in repo; nil when it cannot be read.
func (s *site) summary(ctx context.Context, repo string, d digest.Digest, mt string) *summary {
	v := s.facts.get("manifest "+d.String(), func() (any, bool) {
		m, err := s.Meta.Manifest(ctx, repo, d.String())
		if err != nil {
			return (*summary)(nil), false // maybe only for now: keep nothing
		}
		if image.IsIndex(mt) {
			iv := s.indexFacts(ctx, repo, d, mt, m.Content)
			if iv == nil {
				return (*summary)(nil), true
			}
			sum := &summary{Index: true, Cache: iv.Cache, Size: iv.Size + iv.BlobSize, Images: iv.Images}
			for _, c := range iv.Children {
				if c.Platform != "" {
					sum.Platforms = append(sum.Platforms, c.Platform)
				}
			}
			return sum, true
		}
		man, err := image.ParseManifest(mt, m.Content)
		if err != nil {
			return (*summary)(nil), true
		}
		sum := &summary{Size: man.Config.Size, Cache: man.Config.MediaType == buildCacheConfig}
		for _, l := range man.Layers {
			sum.Size += l.Size
		}
		if sum.Cache {
			return sum, true
		}
		if p := s.configPlatform(ctx, repo, man.Config.Digest); p != "" {
			sum.Platforms = []string{p}
		}
		return sum, true
	})
	return v.(*summary)
}

// configPlatform is the platform an image config names, "" when it names
// none or is not an image config. Only the three fields are read (see
// scanPlatform), so a config of megabytes of history costs one pass, once.
func (s *site) configPlatform(ctx context.Context, repo string, d digest.Digest) string {
	return s.facts.get("config "+d.String(), func() (any, bool) {
		rc, _, err := s.Blobs.Open(ctx, repo, d)
		if err != nil {
			return "", false
		}
		defer rc.Close()
		p, err := scanPlatform(io.LimitReader(rc, image.MaxManifestSize))
		if err != nil {
			return "", true
		}
		return platformOf(&p), true
	}).(string)
}
