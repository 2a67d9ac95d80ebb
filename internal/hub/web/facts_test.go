package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
)

// counting is a real store that counts the reads a page makes, by digest.
type counting struct {
	meta.Store
	mu    sync.Mutex
	reads map[string]int
}

func (c *counting) count(what string) {
	c.mu.Lock()
	c.reads[what]++
	c.mu.Unlock()
}

func (c *counting) Manifest(ctx context.Context, repo, ref string) (meta.Manifest, error) {
	c.count(ref)
	return c.Store.Manifest(ctx, repo, ref)
}

func (c *counting) RepoBlob(ctx context.Context, repo string, d digest.Digest) (meta.Link, error) {
	c.count(d.String())
	return c.Store.RepoBlob(ctx, repo, d)
}

// hostileIndex stores, in repo, an image whose config is megabytes of
// history, and an index that lists that one image n times.
func hostileIndex(t testing.TB, m meta.Store, blobs *storage.Store, repo string, n int) (index, child, config digest.Digest) {
	ctx := context.Background()
	var history []string
	for i := range 20000 {
		history = append(history, fmt.Sprintf(`{"created_by":"RUN step %d %s"}`, i, strings.Repeat("x", 80)))
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[` + strings.Join(history, ",") + `]}`)
	config = digest.FromBytes(cfg)
	if _, err := blobs.Put(ctx, repo, "test", config, bytes.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`, config, len(cfg)))
	child = digest.FromBytes(man)
	put := func(d digest.Digest, mt string, body []byte, blobs, children []digest.Digest, tags ...string) {
		if err := m.PutManifest(ctx, repo, meta.Manifest{Digest: d, MediaType: mt, Content: body, Blobs: blobs, Children: children, CreatedAt: time.Now()}, tags); err != nil {
			t.Fatal(err)
		}
	}
	put(child, "application/vnd.oci.image.manifest.v1+json", man, []digest.Digest{config}, nil)
	entries := make([]json.RawMessage, n)
	for i := range entries {
		entries[i] = json.RawMessage(fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}`, child, len(man)))
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
	index = digest.FromBytes(idx)
	put(index, "application/vnd.oci.image.index.v1+json", idx, nil, []digest.Digest{child}, "multi")
	return index, child, config
}

// A digest's facts are worked out once however many pages ask, at the
// same time or later, and an index's repeated children once each.
func TestFactsOncePerDigest(t *testing.T) {
	dir := t.TempDir()
	m, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	drv, _ := filesystem.New(filepath.Join(dir, "content"))
	store := &counting{Store: m, reads: map[string]int{}}
	blobs := storage.New(drv, store, storage.Options{})
	index, child, config := hostileIndex(t, store, blobs, "alice/app", 500)
	clear(store.reads)
	s := &site{Deps: Deps{Meta: store, Blobs: blobs}, facts: newFactsCache()}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := s.summary(context.Background(), "alice/app", index, "application/vnd.oci.image.index.v1+json")
			if sum == nil || sum.Images != 1 || len(sum.Platforms) != 1 || sum.Platforms[0] != "linux/amd64" {
				t.Errorf("summary = %+v", sum)
			}
		}()
	}
	wg.Wait()
	s.summary(context.Background(), "alice/app", index, "application/vnd.oci.image.index.v1+json")
	for _, d := range []digest.Digest{index, child, config} {
		if n := store.reads[d.String()]; n != 1 {
			t.Errorf("%s was read %d times for 9 summaries of an index naming it 500 times", d, n)
		}
	}
}
