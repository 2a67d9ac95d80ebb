// Package archive reads and writes layer tars: the filesystem changesets that
// images are made of. Archives are hostile input: every entry name and hard
// link target is resolved inside the root, and one that would escape it is an
// error, never a write outside the root.
package archive

import (
	"fmt"
	"path"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// CleanName turns a tar entry name into a clean path relative to the layer's
// root ("./usr/bin/" → "usr/bin"). Leading slashes are dropped, as tar does,
// but a name that climbs out of the root with ".." is refused, as is a name
// with a NUL byte or none at all. The root itself is ".".
func CleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("tar entry %q: name contains a NUL byte: %w", name, errdefs.ErrInvalidArgument)
	}
	if name == "" {
		return "", fmt.Errorf("tar entry with an empty name: %w", errdefs.ErrInvalidArgument)
	}
	// Judge ".." before Clean folds it away: "a/../../b" climbs out, "a/../b" does not.
	depth := 0
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("tar entry %q climbs out of the layer's root: %w", name, errdefs.ErrInvalidArgument)
			}
		default:
			depth++
		}
	}
	clean := path.Clean("/" + name)
	if clean == "/" {
		return ".", nil
	}
	return clean[1:], nil
}
