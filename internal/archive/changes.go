package archive

import (
	"sort"
	"strings"
)

// ChangeKind is what happened to a path, in Docker's terms.
type ChangeKind int

const (
	Modify ChangeKind = iota // "C": changed in place (content, metadata, or a directory's entries)
	Add                      // "A": not in the layers below
	Delete                   // "D": in the layers below, gone now
)

// String is the letter `docker diff` prints.
func (k ChangeKind) String() string {
	return [...]string{"C", "A", "D"}[k]
}

// Change is one path that a container's writable layer changed.
type Change struct {
	Kind ChangeKind
	Path string // absolute in the container's file system: "/etc/motd"
	// Opaque marks a directory that hides everything the layers below had in
	// it (overlayfs made it over a deleted one): its layer tar carries the
	// ".wh..wh..opq" marker.
	Opaque bool
}

func (c Change) String() string { return c.Kind.String() + " " + c.Path }

// sortChanges orders changes as a tar of them must be: by path, one
// component at a time, so a directory comes before what is in it.
func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool { return comparePaths(cs[i].Path, cs[j].Path) < 0 })
}

// comparePaths orders slash-separated paths component by component
// ("/a/b" < "/a.b", unlike a plain string comparison).
func comparePaths(a, b string) int {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if c := strings.Compare(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}
