package snapshot

import (
	"os"
	"path/filepath"
)

// NewNative opens the copying snapshotter in root, for when overlayfs does
// not work: an active snapshot's fs/ starts as a full copy of its parent's
// (hard links, owners, modes, times to the nanosecond, xattrs, devices), and
// is bind-mounted. A view is its parent's fs/, bind-mounted read-only.
func NewNative(root string) (Snapshotter, error) {
	return newSnapshotter(root, native{})
}

type native struct{}

func (native) name() string { return "native" }

func (native) create(dir string, kind Kind, parents []string) error {
	fsDir := filepath.Join(dir, "fs")
	if kind == KindView && len(parents) > 0 {
		return nil
	}
	if len(parents) == 0 {
		return os.Mkdir(fsDir, 0o755)
	}
	return copyTree(filepath.Join(parents[0], "fs"), fsDir)
}

func (native) mounts(dir string, kind Kind, parents []string) []Mount {
	if kind == KindView {
		src := filepath.Join(dir, "fs")
		if len(parents) > 0 {
			src = filepath.Join(parents[0], "fs")
		}
		return []Mount{{Type: "bind", Source: src, Options: []string{"ro", "rbind"}}}
	}
	return []Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rw", "rbind"}}}
}
