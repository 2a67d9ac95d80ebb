package image

import "strings"

// IsNonDistributable reports whether a layer of media type mt is one that
// registries may not hold (Docker's foreign layers, OCI's deprecated
// non-distributable ones): a manifest may name it without it being pushed.
func IsNonDistributable(mt string) bool {
	return mt == MediaTypeDockerForeignLayer || strings.Contains(mt, ".nondistributable.")
}
