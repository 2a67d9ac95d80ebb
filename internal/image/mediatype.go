package image

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Docker's schema2 media types. OCI's are in ocispec; the JSON shapes are the same.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	// MediaTypeDockerSchema1Signed is only recognised so that it can be refused clearly.
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// MediaTypeBuildKitCacheConfig is the config of BuildKit's build cache
// (--export-cache type=registry), listed by the index or manifest that
// holds the cache's layers: such a document is a cache, not an image.
const MediaTypeBuildKitCacheConfig = "application/vnd.buildkit.cacheconfig.v0"

// ErrBuildCache is a pull of a build cache, which is no image.
var ErrBuildCache = fmt.Errorf("it is a build cache (BuildKit's cache export), not an image: a build imports it with --cache-from: %w", errdefs.ErrInvalidArgument)

// Compression is how a layer blob is encoded.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "none"
}

// IsIndex reports whether mt names a list of manifests (OCI index or Docker manifest list).
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether mt names a single-image manifest (OCI or Docker schema2).
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsConfig reports whether mt names an image configuration.
func IsConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == MediaTypeDockerConfig
}

// IsLayer reports whether mt names a filesystem layer, in any compression.
func IsLayer(mt string) bool {
	switch mt {
	case MediaTypeDockerLayer, MediaTypeDockerForeignLayer, "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.")
}

// LayerCompression tells how a layer of media type mt is compressed.
func LayerCompression(mt string) Compression {
	switch {
	case mt == MediaTypeDockerLayer || mt == MediaTypeDockerForeignLayer:
		return Gzip
	case strings.HasSuffix(mt, "+gzip"):
		return Gzip
	case strings.HasSuffix(mt, "+zstd"):
		return Zstd
	}
	return Uncompressed
}

// LayerMediaType is the media type of a layer in the family of manifestType
// (Docker's schema2 or OCI) with compression c.
func LayerMediaType(manifestType string, c Compression) string {
	if manifestType == MediaTypeDockerManifest {
		if c == Uncompressed {
			return "application/vnd.docker.image.rootfs.diff.tar"
		}
		return MediaTypeDockerLayer // Docker has no zstd layer type; the OCI one is used for zstd.
	}
	switch c {
	case Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}
