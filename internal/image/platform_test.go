package image

import (
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// SelectManifest picks the platform's entry; an index with none for it is
// not found, and a build cache (an index of blobs) says what it is.
func TestSelectManifest(t *testing.T) {
	amd64, arm64 := Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "linux", Architecture: "arm64"}
	image := Descriptor{MediaType: MediaTypeDockerManifest, Digest: digest.FromString("amd64"), Platform: &amd64}
	cache := &Index{Manifests: []Descriptor{
		{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest.FromString("layer")},
		{MediaType: MediaTypeBuildKitCacheConfig, Digest: digest.FromString("config")},
	}}
	if d, err := SelectManifest(&Index{Manifests: []Descriptor{image}}, amd64); err != nil || d.Digest != image.Digest {
		t.Errorf("amd64: %v, %v", d.Digest, err)
	}
	if _, err := SelectManifest(&Index{Manifests: []Descriptor{image}}, arm64); !errdefs.IsNotFound(err) {
		t.Errorf("arm64 from an amd64 index: %v; want not found", err)
	}
	if _, err := SelectManifest(cache, amd64); !errors.Is(err, ErrBuildCache) || !errdefs.IsInvalidArgument(err) {
		t.Errorf("a build cache: %v; want ErrBuildCache", err)
	}
}
