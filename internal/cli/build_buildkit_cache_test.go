package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cachetypes "github.com/moby/buildkit/cache/remotecache/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// TestBuildKitCacheInHub: a current BuildKit exports its cache to strata's
// hub in each of its forms: an image manifest (image-manifest=true, its
// default since v0.21), an OCI index whose entries are the cache config
// and layer blobs (image-manifest=false, the default before and what
// docker buildx's older BuildKit sends), and a Docker manifest list of
// the same (oci-mediatypes=false). The hub's collector (strata hub gc) keeps their blobs,
// and a fresh buildkitd that imports any of them runs no step; strata
// pull says each is a build cache, not an image.
func TestBuildKitCacheInHub(t *testing.T) {
	root := busyboxRoot(t, "")
	h := testutil.StartHub(t, hub.Config{GCGrace: time.Millisecond})
	base := h.Addr + "/library/busybox:test"
	mustStrata(t, root, "tag", "busybox:test", base)
	mustStrata(t, root, "push", base)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo built > /built && date +%s%N > /when\n"})
	forms := []struct{ tag, attrs, mediaType string }{
		{"manifest", "", ocispec.MediaTypeImageManifest},
		{"index", ",image-manifest=false", ocispec.MediaTypeImageIndex},
		{"list", ",oci-mediatypes=false", "application/vnd.docker.distribution.manifest.list.v2+json"},
	}
	var export []string
	for _, f := range forms {
		export = append(export, "--export-cache", "type=registry,ref="+h.Addr+"/team/bk-cache:"+f.tag+f.attrs)
	}
	dir := t.TempDir()
	if out, err := testutil.StartBuildKit(t).Build(t, ctxDir, filepath.Join(dir, "first.tar"), nil, export...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// A blob no manifest names, for the collector to take: it ran.
	stray := []byte("no cache names me")
	resp, err := http.Post("http://"+h.Addr+"/v2/team/bk-cache/blobs/uploads/?digest="+digest.FromBytes(stray).String(), "application/octet-stream", bytes.NewReader(stray))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("a stray blob: %v %v", resp, err)
	}
	resp.Body.Close()
	time.Sleep(5 * time.Millisecond) // past the collector's grace
	if out := mustStrata(t, root, "hub", "gc", "--data-dir", h.Dir, "--gc-grace", "1ms"); !strings.Contains(out, " 1 blob(s)") {
		t.Fatalf("strata hub gc took other than the stray blob: %s", out)
	}
	for _, f := range forms {
		m, err := h.Deps.Meta.Manifest(context.Background(), "team/bk-cache", f.tag)
		if err != nil || m.MediaType != f.mediaType {
			t.Fatalf("the cache %s in the hub: %q, %v; want %s", f.tag, m.MediaType, err, f.mediaType)
		}
		var doc struct {
			Config    *ocispec.Descriptor
			Layers    []ocispec.Descriptor
			Manifests []ocispec.Descriptor
		}
		json.Unmarshal(m.Content, &doc)
		blobs := append(doc.Manifests, doc.Layers...)
		if doc.Config != nil {
			blobs = append(blobs, *doc.Config)
		}
		hasConfig := false
		for _, d := range blobs {
			hasConfig = hasConfig || d.MediaType == cachetypes.CacheConfigMediaTypeV0
			resp, err := http.Head("http://" + h.Addr + "/v2/team/bk-cache/blobs/" + d.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("after a collection, blob %s (%s) of the cache %s: %d", d.Digest, d.MediaType, f.tag, resp.StatusCode)
			}
		}
		if !hasConfig || len(blobs) < 2 {
			t.Fatalf("BuildKit's cache %s lists no cache config and layers:\n%s", f.tag, m.Content)
		}
	}

	fresh, buildctl := testutil.StartBuildKit(t), testutil.Tool(t, "buildctl")
	step := regexp.MustCompile(`(?m)^(#\d+) \[2/2\] RUN echo built`)
	for _, f := range forms {
		// Nothing of the last import stays in the daemon.
		testutil.Run(t, nil, buildctl, "--addr", fresh.Addr, "prune", "--all")
		// The progress goes to standard error.
		b, err := exec.Command(buildctl, "--addr", fresh.Addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
			"--local", "context="+ctxDir, "--local", "dockerfile="+ctxDir, "--import-cache", "type=registry,ref="+h.Addr+"/team/bk-cache:"+f.tag).CombinedOutput()
		out := string(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		n := step.FindStringSubmatch(out)
		if n == nil || !regexp.MustCompile(`(?m)^`+n[1]+` CACHED$`).MatchString(out) {
			t.Errorf("a fresh buildkitd importing the cache %s from the hub ran the step:\n%s", f.tag, out)
		}
	}

	// A pull of a cache says what it is.
	for _, f := range forms {
		if _, err := strata(t, root, nil, "pull", h.Addr+"/team/bk-cache:"+f.tag); err == nil || !strings.Contains(err.Error(), "build cache") {
			t.Errorf("strata pull of the cache %s: %v; want it refused as a build cache", f.tag, err)
		}
	}
}
