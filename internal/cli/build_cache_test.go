package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cachetypes "github.com/moby/buildkit/cache/remotecache/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// TestBuildCacheToFrom: a build exports its cache (--cache-to) to a
// directory, to the reference registry and to strata's hub (as an image
// manifest, by default, and as an index), in BuildKit's cache manifest format; a fresh
// store that imports any of them (--cache-from) runs no step and makes the
// same image; a cache whose blob was tampered with is refused.
func TestBuildCacheToFrom(t *testing.T) {
	root := busyboxRoot(t, "")
	reg, base := busyboxInRegistry(t, root, "test")
	ctx := writeContext(t, map[string]string{"app/a": "a\n", "Dockerfile": "FROM " + base + "\nENV G=hello\n" +
		"RUN echo \"$G\" > /greeting\nCOPY app/ /app/\nRUN --mount=type=cache,target=/c cat /app/a /greeting > /all\nCMD [\"cat\", \"/all\"]\n"})
	local := filepath.Join(t.TempDir(), "cache")
	ref, indexRef := reg.Addr+"/team/app-cache:main", reg.Addr+"/team/app-cache:index"
	h := testutil.StartHub(t, hub.Config{})
	hubRef, hubIndexRef := h.Addr+"/team/app-cache:main", h.Addr+"/team/app-cache:index"
	mustBuild(t, root, "-t", "app:1", "--cache-to", "type=local,dest="+local, "--cache-to", "type=registry,ref="+ref,
		"--cache-to", "type=registry,ref="+indexRef+",image-manifest=false", "--cache-to", hubRef,
		"--cache-to", "type=registry,ref="+hubIndexRef+",image-manifest=false", ctx)
	want := imageID(t, root, "app:1")
	for tag, mt := range map[string]string{"main": ocispec.MediaTypeImageManifest, "index": ocispec.MediaTypeImageIndex} {
		if m, err := h.Deps.Meta.Manifest(context.Background(), "team/app-cache", tag); err != nil || m.MediaType != mt {
			t.Errorf("the hub's cache %s: %q, %v; want %s", tag, m.MediaType, err, mt)
		}
	}

	// The directory is an OCI layout whose index holds BuildKit's cache config.
	var top, idx ocispec.Index
	readJSONFile(t, filepath.Join(local, "index.json"), &top)
	readJSONFile(t, blobFile(local, top.Manifests[0]), &idx)
	var cfg cachetypes.CacheConfig
	for _, d := range idx.Manifests {
		if d.MediaType == cachetypes.CacheConfigMediaTypeV0 {
			readJSONFile(t, blobFile(local, d), &cfg)
		}
	}
	if len(cfg.Records) != 5 || len(cfg.Layers) != 3 || top.Manifests[0].Annotations[ocispec.AnnotationRefName] != "latest" {
		t.Errorf("the cache holds %d records and %d layers, tagged %v; want 5 and 3, latest", len(cfg.Records), len(cfg.Layers), top.Manifests[0].Annotations)
	}

	for _, from := range []string{"type=local,src=" + local, "type=registry,ref=" + ref, indexRef, hubRef, hubIndexRef} {
		fresh := t.TempDir()
		progress := mustBuild(t, fresh, "-t", "app:1", "--cache-from", from, ctx)
		for _, s := range stepStates(progress)[1:] {
			if !strings.HasPrefix(s, "CACHED ") {
				t.Errorf("--cache-from %s on a fresh store: %q, want it from the cache", from, s)
			}
		}
		if got := imageID(t, fresh, "app:1"); got != want {
			t.Errorf("--cache-from %s made image %s, want %s", from, got, want)
		}
		if got := mustStrata(t, fresh, "run", "--rm", "app:1"); got != "a\nhello\n" {
			t.Errorf("--cache-from %s: the image prints %q", from, got)
		}
	}

	// A layer blob changed in the directory: the import refuses it.
	layer := blobFile(local, ocispec.Descriptor{Digest: cfg.Layers[0].Blob})
	os.Chmod(layer, 0o644)
	os.WriteFile(layer, []byte("tampered"), 0o644)
	if _, progress, code := buildOut(t, t.TempDir(), "--cache-from", "type=local,src="+local, ctx); code == 0 || !strings.Contains(progress, "--cache-from") {
		t.Errorf("a tampered cache: exit %d:\n%s", code, progress)
	}
}

func blobFile(dir string, d ocispec.Descriptor) string {
	return filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded())
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// busyboxInRegistry pushes the store's busybox:test to a reference
// registry on loopback, as library/busybox:TAG, and returns the registry
// and the image's name there.
func busyboxInRegistry(t *testing.T, root, tag string) (*testutil.Distribution, string) {
	t.Helper()
	reg := testutil.StartDistribution(t, "")
	base := reg.Addr + "/library/busybox:" + tag
	mustStrata(t, root, "tag", "busybox:test", base)
	mustStrata(t, root, "push", base)
	return reg, base
}
