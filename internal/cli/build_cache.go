package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/build/remotecache"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
)

// cacheSpec is a --cache-from or --cache-to: type=registry,ref=NAME or
// type=local,src=DIR|dest=DIR[,tag=TAG]; a bare NAME is type=registry.
type cacheSpec struct {
	typ, ref, dir, tag string
	manifest           bool // image-manifest: the cache as an image manifest, not an index
}

func parseCacheSpec(flag, v string) (cacheSpec, error) {
	// A registry gets an image manifest by default, as BuildKit (since
	// v0.21) exports it: some registries take only manifests in an index.
	c := cacheSpec{manifest: true}
	if !strings.Contains(v, "=") {
		return cacheSpec{typ: "registry", ref: v, manifest: true}, nil
	}
	for _, field := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(field, "=")
		switch k {
		case "type":
			c.typ = val
		case "ref":
			c.ref = val
		case "src", "dest":
			c.dir = val
		case "tag":
			c.tag = val
		case "image-manifest":
			c.manifest = val == "true"
		case "mode", "oci-mediatypes", "compression", "ignore-error":
			// How BuildKit shapes what it exports: strata exports every step
			// of the stages it built (mode=max), as an OCI index.
		default:
			return c, fmt.Errorf("%s %s: unknown key %q: want type=registry,ref=NAME or type=local,src=DIR (dest= for --cache-to): %w", flag, v, k, errdefs.ErrInvalidArgument)
		}
	}
	if c.typ == "local" && !strings.Contains(v, "image-manifest=") {
		c.manifest = false // BuildKit's default for a directory: an index
	}
	switch {
	case c.typ == "registry" && c.ref != "", c.typ == "local" && c.dir != "":
		return c, nil
	case c.typ == "registry", c.typ == "local":
		return c, fmt.Errorf("%s %s: type=registry needs ref=NAME, type=local needs a directory: %w", flag, v, errdefs.ErrInvalidArgument)
	}
	return c, fmt.Errorf("%s %s: strata moves caches with type=registry or type=local (not %q): %w", flag, v, c.typ, errdefs.ErrInvalidArgument)
}

// cacheTarget opens where a cache spec points.
func (a *app) cacheTarget(c cacheSpec, access remote.Access) (remotecache.Target, error) {
	if c.typ == "local" {
		return remotecache.Layout{Dir: c.dir, Tag: c.tag}, nil
	}
	ref, err := image.ParseReference(c.ref)
	if err != nil {
		return nil, err
	}
	tag := image.Tag(ref)
	if tag == "" {
		tag = "latest"
	}
	client, err := a.registryClient()
	if err != nil {
		return nil, err
	}
	return registryCache{repo: client.Repository(reference.Domain(ref), reference.Path(ref), access), tag: tag}, nil
}

// registryCache is a cache in a registry's repository, its index under a tag.
type registryCache struct {
	repo *remote.Repository
	tag  string
}

func (r registryCache) HasBlob(ctx context.Context, d digest.Digest) (bool, error) {
	return r.repo.BlobExists(ctx, d)
}

func (r registryCache) WriteBlob(ctx context.Context, desc ocispec.Descriptor, ra io.ReaderAt) error {
	return r.repo.PushBlob(ctx, desc, ra, remote.PushOptions{})
}

func (r registryCache) ReadBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return r.repo.FetchBlob(ctx, desc, 0)
}

func (r registryCache) WriteIndex(ctx context.Context, mediaType string, b []byte) error {
	_, err := r.repo.PushManifest(ctx, r.tag, mediaType, b)
	return err
}

func (r registryCache) ReadIndex(ctx context.Context) ([]byte, error) {
	_, b, err := r.repo.FetchManifest(ctx, r.tag)
	return b, err
}

// importCaches reads each --cache-from into the store before the build.
func (a *app) importCaches(ctx context.Context, s *store.Store, specs []cacheSpec, quiet bool) error {
	for _, c := range specs {
		t, err := a.cacheTarget(c, remote.Pull)
		if err != nil {
			return err
		}
		n, err := remotecache.Import(ctx, s, t)
		if err != nil {
			return fmt.Errorf("--cache-from %s%s: %w", c.ref, c.dir, err)
		}
		if !quiet {
			fmt.Fprintf(a.Err, "importing cache %s%s: %d steps\n", c.ref, c.dir, n)
		}
	}
	return nil
}

// exportCaches writes the build's steps to each --cache-to.
func (a *app) exportCaches(ctx context.Context, s *store.Store, specs []cacheSpec, records []remotecache.Record, quiet bool) error {
	for _, c := range specs {
		t, err := a.cacheTarget(c, remote.Push)
		if err != nil {
			return err
		}
		if err := remotecache.Export(ctx, s, t, records, c.manifest); err != nil {
			return fmt.Errorf("--cache-to %s%s: %w", c.ref, c.dir, err)
		}
		if !quiet {
			fmt.Fprintf(a.Err, "exported cache %s%s: %d steps\n", c.ref, c.dir, len(records))
		}
	}
	return nil
}
