package image

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Reference is a parsed, normalized image reference such as
// docker.io/library/busybox:latest or localhost:5000/team/app@sha256:...
type Reference = reference.Named

// ParseReference reads an image reference the way Docker does: "nginx" is
// docker.io/library/nginx, a first component with a "." or ":" or that is
// "localhost" names a registry, and names must be lower case. No tag is
// added; see WithDefaultTag.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return nil, fmt.Errorf("an image reference cannot be empty: %w", errdefs.ErrInvalidArgument)
	}
	if looksLikeID(s) {
		return nil, fmt.Errorf("invalid reference %q: a 64-hex name is an image ID, not a repository: %w", s, errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %v (want [REGISTRY/]NAME[:TAG][@DIGEST], lower case, such as busybox:1.36 or localhost:5000/team/app): %w",
			s, err, errdefs.ErrInvalidArgument)
	}
	return named, nil
}

// ParseTagged parses a reference and adds the tag "latest" when it names
// neither a tag nor a digest: what `tag`, `import` and `save` name.
func ParseTagged(s string) (Reference, error) {
	named, err := ParseReference(s)
	if err != nil {
		return nil, err
	}
	return reference.TagNameOnly(named), nil
}

// ParseTag parses a reference that must end in a tag (a digest is refused):
// the target of `strata tag` and the name given to an imported image.
func ParseTag(s string) (reference.NamedTagged, error) {
	named, err := ParseTagged(s)
	if err != nil {
		return nil, err
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("invalid reference %q: a tag names an image, a digest cannot be set: %w", s, errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("invalid reference %q: a tag target cannot have a digest: %w", s, errdefs.ErrInvalidArgument)
	}
	return tagged, nil
}

// FamiliarName is how Docker shows a repository: "busybox" for
// docker.io/library/busybox, "team/app" for docker.io/team/app, others in full.
func FamiliarName(r reference.Named) string { return reference.FamiliarName(r) }

// FamiliarString is FamiliarName plus the tag and digest: "busybox:latest".
func FamiliarString(r reference.Reference) string { return reference.FamiliarString(r) }

// Tag is the reference's tag, "" when it has none.
func Tag(r reference.Named) string {
	if t, ok := r.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// RefDigest is the reference's digest, "" when it has none.
func RefDigest(r reference.Named) digest.Digest {
	if d, ok := r.(reference.Digested); ok {
		return d.Digest()
	}
	return ""
}

// WithDigest is repository@dgst: how a repo digest is written.
func WithDigest(r reference.Named, dgst digest.Digest) (reference.Canonical, error) {
	return reference.WithDigest(reference.TrimNamed(r), dgst)
}

// looksLikeID reports whether s is a bare 64-hex image ID (with or without
// "sha256:"), which Docker refuses as a repository name.
func looksLikeID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// SplitNormalized splits a name that is already normalized (as the store
// keeps them: docker.io/library/busybox:latest, example.com/a@sha256:...)
// into its familiar repository and its tag or digest, without parsing it
// again: listing a thousand images should not run the grammar a thousand times.
func SplitNormalized(name string) (familiarRepo, tagOrDigest string) {
	repo := name
	if i := strings.IndexByte(name, '@'); i >= 0 {
		repo, tagOrDigest = name[:i], name[i+1:]
	} else if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		repo, tagOrDigest = name[:i], name[i+1:]
	}
	if rest, ok := strings.CutPrefix(repo, "docker.io/"); ok {
		repo = rest
		if lib, ok := strings.CutPrefix(rest, "library/"); ok && !strings.Contains(lib, "/") {
			repo = lib
		}
	}
	return repo, tagOrDigest
}
