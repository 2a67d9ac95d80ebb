package cli

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
	"github.com/strata-dev/strata/internal/store"
)

// parsePlatforms reads --platform: one platform, or several separated by
// commas.
func parsePlatforms(v string) ([]image.Platform, error) {
	var out []image.Platform
	for _, s := range strings.Split(v, ",") {
		p, err := image.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// buildPlatforms builds the Dockerfile once per platform and makes one OCI
// image index of the images: written where -o type=oci says, pushed to
// each -t name with --push. The store keeps one image per tag, so a
// multi-platform build needs one of the two; each platform's image stays
// in the store, untagged.
func (a *app) buildPlatforms(ctx context.Context, s *store.Store, o build.Options, f buildFlags, platforms []image.Platform, outs []buildOutput) ([]build.Result, error) {
	for _, out := range outs {
		if out.typ != "oci" {
			return nil, fmt.Errorf("--platform %s with -o type=%s: several platforms go into one index, which only type=oci holds: %w", f.platform, out.typ, errdefs.ErrInvalidArgument)
		}
	}
	if len(outs) == 0 && !f.push {
		return nil, fmt.Errorf("--platform %s: the store keeps one platform per tag: write the index with -o type=oci,dest=FILE or push it with --push: %w", f.platform, errdefs.ErrInvalidArgument)
	}
	var results []build.Result
	for _, p := range platforms {
		po := o
		po.Platform, po.Tags = p, nil
		res, err := build.Build(ctx, s, po)
		if err != nil {
			return results, fmt.Errorf("%s: %w", image.FormatPlatform(p), err)
		}
		results = append(results, res)
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for i, res := range results {
		desc := res.Image.Manifest
		desc.Platform = &ocispec.Platform{OS: platforms[i].OS, Architecture: platforms[i].Architecture, Variant: platforms[i].Variant}
		idx.Manifests = append(idx.Manifests, desc)
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return results, err
	}
	for _, out := range outs {
		if err := writeIndexArchive(ctx, s, out.dest, f.tags, results, ib); err != nil {
			return results, fmt.Errorf("-o type=oci,dest=%s: %w", out.dest, err)
		}
	}
	if f.push {
		if len(f.tags) == 0 {
			return results, fmt.Errorf("--push needs a name to push to: give -t REGISTRY/REPO:TAG: %w", errdefs.ErrInvalidArgument)
		}
		for _, t := range f.tags {
			if err := a.pushIndex(ctx, s, t, results, ib); err != nil {
				return results, err
			}
		}
	}
	if f.iidfile != "" {
		if err := os.WriteFile(f.iidfile, []byte(digest.FromBytes(ib).String()), 0o644); err != nil {
			return results, fmt.Errorf("--iidfile: %w", err)
		}
	}
	return results, nil
}

// imageBlobs lists the blobs of a stored image: its manifest, config and
// layers.
func imageBlobs(ctx context.Context, s *store.Store, img store.Image) ([]ocispec.Descriptor, []byte, error) {
	mb, err := s.ManifestBytes(ctx, img)
	if err != nil {
		return nil, nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, nil, err
	}
	return append([]ocispec.Descriptor{m.Config}, m.Layers...), mb, nil
}

// writeIndexArchive writes an OCI layout tar holding the index ib and the
// images, named by the first tag.
func writeIndexArchive(ctx context.Context, s *store.Store, dest string, tags []string, results []build.Result, ib []byte) error {
	var w io.Writer = os.Stdout
	if dest != "-" {
		fh, err := os.Create(dest)
		if err != nil {
			return err
		}
		defer fh.Close()
		w = fh
	}
	tw := tar.NewWriter(w)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	seen := map[string]bool{}
	blob := func(d ocispec.Descriptor) error {
		name := "blobs/" + d.Digest.Algorithm().String() + "/" + d.Digest.Encoded()
		if seen[name] {
			return nil
		}
		seen[name] = true
		ra, err := s.Content().ReaderAt(ctx, d)
		if err != nil {
			return err
		}
		defer ra.Close()
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: ra.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, io.NewSectionReader(ra, 0, ra.Size()))
		return err
	}
	for _, res := range results {
		blobs, _, err := imageBlobs(ctx, s, res.Image)
		if err != nil {
			return err
		}
		for _, d := range append(blobs, res.Image.Manifest) {
			if err := blob(d); err != nil {
				return err
			}
		}
	}
	idxDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}
	if len(tags) > 0 {
		idxDesc.Annotations = map[string]string{ocispec.AnnotationRefName: tags[0]}
	}
	top, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{idxDesc}})
	for _, e := range []struct {
		name string
		b    []byte
	}{{"blobs/sha256/" + idxDesc.Digest.Encoded(), ib}, {ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", top}} {
		if err := add(e.name, e.b); err != nil {
			return err
		}
	}
	return tw.Close()
}

// pushIndex pushes each platform's image by digest, then the index under
// the tag.
func (a *app) pushIndex(ctx context.Context, s *store.Store, name string, results []build.Result, ib []byte) error {
	ref, err := image.ParseTag(name)
	if err != nil {
		return err
	}
	client, err := a.registryClient()
	if err != nil {
		return err
	}
	repo := client.Repository(reference.Domain(ref), reference.Path(ref), remote.Push)
	for _, res := range results {
		blobs, mb, err := imageBlobs(ctx, s, res.Image)
		if err != nil {
			return err
		}
		for _, d := range blobs {
			if ok, err := repo.BlobExists(ctx, d.Digest); err != nil || ok {
				if err != nil {
					return withLoginHint(err, reference.Domain(ref))
				}
				continue
			}
			ra, err := s.Content().ReaderAt(ctx, d)
			if err != nil {
				return err
			}
			err = repo.PushBlob(ctx, d, ra, remote.PushOptions{})
			ra.Close()
			if err != nil {
				return withLoginHint(err, reference.Domain(ref))
			}
		}
		if _, err := repo.PushManifest(ctx, res.Image.Manifest.Digest.String(), res.Image.Manifest.MediaType, mb); err != nil {
			return err
		}
	}
	dgst, err := repo.PushManifest(ctx, ref.Tag(), ocispec.MediaTypeImageIndex, ib)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "%s: digest: %s size: %d\n", ref.Tag(), dgst, len(ib))
	return nil
}
