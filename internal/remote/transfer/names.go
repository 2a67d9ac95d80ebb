package transfer

import (
	"context"
	"slices"

	"github.com/distribution/reference"

	"github.com/strata-dev/strata/internal/store"
)

// addNames makes tag (when not nil) name img and records repoDigest (when
// not nil), as a pull of an image that is already local, or a push, does.
func addNames(ctx context.Context, s *store.Store, img store.Image, tag reference.NamedTagged, repoDigest reference.Canonical) error {
	needTag := tag != nil && !slices.Contains(img.Tags, tag.String())
	needDigest := repoDigest != nil && !slices.Contains(img.RepoDigests, repoDigest.String())
	switch {
	case !needTag && !needDigest:
		return nil
	case !needDigest:
		return s.Tag(ctx, img.ID, tag)
	}
	layers, err := s.ImageLayers(ctx, img)
	if err != nil {
		return err
	}
	n := store.NewImage{Manifest: img.Manifest, RepoDigests: []reference.Canonical{repoDigest}}
	for _, l := range layers {
		n.Layers = append(n.Layers, store.Layer{Blob: l.Blob, DiffID: l.DiffID, TarSize: l.TarSize, Size: l.Size})
	}
	if needTag {
		n.Tags = []reference.NamedTagged{tag}
	}
	_, err = s.Add(ctx, n)
	return err
}
