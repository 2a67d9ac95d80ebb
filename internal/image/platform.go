package image

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// DefaultPlatform is the platform of this machine, as an image index names it.
func DefaultPlatform() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ParsePlatform reads "os/arch[/variant]", as `--platform` takes it.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, invalid("platform %q: want os/arch[/variant], such as linux/amd64 or linux/arm/v7", s)
	}
	p := Platform{OS: strings.ToLower(parts[0]), Architecture: normalizeArch(strings.ToLower(parts[1]))}
	if len(parts) == 3 {
		p.Variant = strings.ToLower(parts[2])
	}
	return p, nil
}

func normalizeArch(a string) string {
	switch a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// FormatPlatform writes p as "os/arch[/variant]".
func FormatPlatform(p Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// MatchPlatform reports whether an image for have runs where want is asked
// for. An empty variant on either side matches any, except that arm64 "v8"
// and "" are the same.
func MatchPlatform(want, have Platform) bool {
	if want.OS != have.OS || normalizeArch(want.Architecture) != normalizeArch(have.Architecture) {
		return false
	}
	wv, hv := want.Variant, have.Variant
	if want.Architecture == "arm64" {
		wv, hv = strings.TrimPrefix(wv, "v8"), strings.TrimPrefix(hv, "v8")
	}
	return wv == "" || hv == "" || wv == hv
}

// SelectManifest picks the entry of idx that runs on want.
func SelectManifest(idx *Index, want Platform) (Descriptor, error) {
	var seen []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		if MatchPlatform(want, *d.Platform) {
			return d, nil
		}
		seen = append(seen, FormatPlatform(*d.Platform))
	}
	for _, d := range idx.Manifests {
		if len(seen) == 0 && d.MediaType == MediaTypeBuildKitCacheConfig {
			return Descriptor{}, ErrBuildCache
		}
	}
	return Descriptor{}, fmt.Errorf("no image for %s in the index (it has %s): %w",
		FormatPlatform(want), strings.Join(seen, ", "), errdefs.ErrNotFound)
}
