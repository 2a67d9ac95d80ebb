package hub_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
	"github.com/strata-dev/strata/internal/testutil"
)

func layerOf(t *testing.T, size int) v1.Layer {
	b := make([]byte, size)
	rand.Read(b)
	return static.NewLayer(b, types.OCILayer)
}

// The collector runs over and over while clients push images that share a
// layer the collector is, at the same moment, deleting as garbage. Every
// pushed image must come back whole, and the garbage must go.
func TestGCRacingPushes(t *testing.T) {
	ctx := context.Background()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	dir := t.TempDir()
	drv, err := filesystem.New(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	blobs := storage.New(drv, m, storage.Options{Grace: time.Hour, Now: now})
	srv := httptest.NewServer(hub.NewServer(hub.Config{}, hub.Deps{Meta: m, Blobs: blobs}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// Garbage: images whose manifests are deleted, leaving their base
	// layers and their own layers unreferenced; then two hours pass.
	var bases []v1.Layer
	var garbage []v1.Hash
	for i := range 32 {
		base, own := layerOf(t, 16<<10), layerOf(t, 8<<10)
		bases = append(bases, base)
		img, _ := mutate.AppendLayers(empty.Image, base, own)
		d := push(t, fmt.Sprintf("%s/old/img%d:1", addr, i), img)
		r, _ := name.ParseReference(fmt.Sprintf("%s/old/img%d@%s", addr, i, d))
		if err := remote.Delete(r); err != nil {
			t.Fatal(err)
		}
		od, _ := own.Digest()
		garbage = append(garbage, od)
	}
	offset.Add(int64(2 * time.Hour))

	// Now push images on those old bases while collecting, concurrently:
	// each base is linked anew by a push while the collector may be taking it.
	stop := make(chan struct{})
	var collections atomic.Int64
	var gcErr error
	var wg sync.WaitGroup
	var done atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for done.Load() < 4 { // start amid the pushes, with some in flight
			time.Sleep(time.Millisecond)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := blobs.CollectGarbage(ctx, false); err != nil {
				gcErr = err
				return
			}
			collections.Add(1)
		}
	}()
	var pushed sync.Map
	var pw sync.WaitGroup
	for w := range 4 {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := range 8 {
				img, _ := mutate.AppendLayers(empty.Image, bases[w*8+i], layerOf(t, 4<<10))
				ref := fmt.Sprintf("%s/new/w%d:%d", addr, w, i)
				r, _ := name.ParseReference(ref)
				if err := remote.Write(r, img, remote.WithTransport(slowManifests{})); err != nil {
					t.Errorf("push %s while collecting: %v", ref, err)
					return
				}
				pushed.Store(ref, img)
				done.Add(1)
			}
		}()
	}
	pw.Wait()
	close(stop)
	wg.Wait()
	if gcErr != nil {
		t.Fatalf("collection failed: %v", gcErr)
	}
	if _, err := blobs.CollectGarbage(ctx, false); err != nil { // once more, after the pushes
		t.Fatal(err)
	}
	t.Logf("%d collections ran during the pushes", collections.Load())
	if collections.Load() < 2 {
		t.Fatal("the collector did not run while pushing")
	}
	count := 0
	pushed.Range(func(k, v any) bool {
		count++
		r, _ := name.ParseReference(k.(string))
		if err := testutil.PullAll(r); err != nil {
			t.Errorf("%s lost content: %v", k, err)
		}
		return true
	})
	if count != 32 {
		t.Fatalf("%d images pushed, want 32", count)
	}
	for _, g := range garbage {
		if _, err := drv.Stat(ctx, digest.Digest(g.String())); !errdefs.IsNotFound(err) {
			t.Errorf("garbage layer %s still stored: %v", g, err)
		}
	}
}

// slowManifests is a client that dawdles between uploading its layers and
// putting the manifest that references them: the window where only the
// grace period keeps the layers.
type slowManifests struct{}

func (slowManifests) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		time.Sleep(20 * time.Millisecond)
	}
	return http.DefaultTransport.RoundTrip(r)
}
