package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// WriteChanges writes changes as a layer tar to w, in the OCI image spec's
// form: each added or changed path as it is in root, each deleted one as a
// ".wh.NAME" whiteout, and an opaque directory followed by ".wh..wh..opq".
// The directories on the way to each change come first, as they are in root,
// so the layer applies the same on any tree. root is where the new state can
// be read: an overlayfs upper directory or the container's whole tree.
func WriteChanges(ctx context.Context, w io.Writer, root string, changes []Change) error {
	t, err := openTree(root)
	if err != nil {
		return err
	}
	defer t.close()
	cs := append([]Change(nil), changes...)
	sortChanges(cs)
	lw := newLayerWriter(w, t)
	written := map[string]bool{}
	for _, c := range cs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(path.Clean("/"+c.Path), "/")
		if rel == "" {
			continue
		}
		if err := lw.parents(rel, written); err != nil {
			return err
		}
		if err := lw.change(c, rel); err != nil {
			return fmt.Errorf("layer of changes: %s: %w", c.Path, err)
		}
		written[rel] = true
	}
	return lw.close()
}

// parents writes the directories above rel that are not written yet.
func (lw *layerWriter) parents(rel string, written map[string]bool) error {
	dir := path.Dir(rel)
	if dir == "." || written[dir] {
		return nil
	}
	if err := lw.parents(dir, written); err != nil {
		return err
	}
	written[dir] = true
	return lw.entry(dir)
}

// change writes one change: the entry, or a whiteout for a deletion.
func (lw *layerWriter) change(c Change, rel string) error {
	if c.Kind == Delete {
		dir, base := path.Split(rel)
		return lw.header(whiteoutHeader(dir + WhiteoutPrefix + base))
	}
	if err := lw.entry(rel); err != nil {
		return err
	}
	if c.Opaque {
		return lw.header(whiteoutHeader(rel + "/" + WhiteoutOpaque))
	}
	return nil
}

// whiteoutHeader is an empty file that marks a deletion. Its time is fixed so
// the same changes always give the same layer.
func whiteoutHeader(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: time.Unix(0, 0)}
}
