package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// OverlayChanges lists what an overlayfs upper directory changes on top of
// lower, a read-only view of the layers below (a union mount or a directory):
// a whiteout (a 0/0 character device) is a deletion; a directory marked
// trusted.overlay.opaque hides what lower had in it; anything else is an
// addition when lower lacks it and a change when lower has it. Every
// directory on the way to a change is itself changed, as in Docker.
func OverlayChanges(ctx context.Context, lower, upper string) ([]Change, error) {
	below, err := openTree(lower)
	if err != nil {
		return nil, err
	}
	defer below.close()
	return overlayChanges(ctx, upper, below.exists)
}

// UpperChanges lists the changes an overlayfs upper directory records from
// it alone, not looking below: as OverlayChanges, except that what it adds
// or changes is all an addition, and a directory marked opaque is a change
// that hides what was below. Where a mounted overlay wrote the upper
// directory (which makes a directory opaque only where it replaced one
// below), WriteChanges makes the same layer of them as of OverlayChanges'.
func UpperChanges(ctx context.Context, upper string) ([]Change, error) {
	return overlayChanges(ctx, upper, nil)
}

// overlayChanges is OverlayChanges with exists telling what is below (nil:
// UpperChanges).
func overlayChanges(ctx context.Context, upper string, exists func(rel string) (bool, error)) ([]Change, error) {
	var out []Change
	hidden := map[string]bool{} // directories whose lower contents are gone: new or opaque
	err := walk(ctx, upper, func(rel string, fi fs.FileInfo) error {
		p := "/" + rel
		if isWhiteout(fi) {
			out = append(out, Change{Kind: Delete, Path: p})
			return nil
		}
		c := Change{Kind: Add, Path: p}
		if exists != nil && !hidden[filepath.Dir(rel)] {
			inLower, err := exists(rel)
			if err != nil {
				return err
			}
			if inLower {
				c.Kind = Modify
			}
		}
		if fi.IsDir() {
			opaque, err := isOpaque(filepath.Join(upper, rel))
			if err != nil {
				return err
			}
			if exists == nil && opaque {
				c.Kind = Modify
			}
			c.Opaque = opaque && c.Kind == Modify
			hidden[rel] = c.Opaque || c.Kind == Add
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes in %s: %w", upper, err)
	}
	sortChanges(out)
	return out, nil
}

// TreeChanges lists what tree upper changes compared with tree lower: paths
// only upper has are additions; paths only lower has are deletions (a
// deleted directory once, not each thing in it); paths in both whose type,
// mode, owner, size, mtime, link target, device or xattrs differ are changes.
// This is how the copying snapshotter finds a container's changes.
func TreeChanges(ctx context.Context, lower, upper string) ([]Change, error) {
	below, err := openTree(lower)
	if err != nil {
		return nil, err
	}
	defer below.close()
	var out []Change
	err = walk(ctx, upper, func(rel string, fi fs.FileInfo) error {
		inLower, err := below.exists(rel)
		if err != nil {
			return err
		}
		if !inLower {
			out = append(out, Change{Kind: Add, Path: "/" + rel})
			return nil
		}
		old, err := os.Lstat(filepath.Join(lower, rel))
		if err != nil {
			return err
		}
		same, err := sameEntry(filepath.Join(lower, rel), filepath.Join(upper, rel), old, fi)
		if err != nil {
			return err
		}
		if !same {
			out = append(out, Change{Kind: Modify, Path: "/" + rel})
		}
		return nil
	})
	if err == nil {
		err = deletions(ctx, lower, upper, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", upper, lower, err)
	}
	out = withParents(out)
	sortChanges(out)
	return out, nil
}

// withParents adds, as changed, each directory above a change that is not
// listed yet, as Docker does: a directory whose contents changed is changed.
func withParents(cs []Change) []Change {
	listed := map[string]bool{}
	for _, c := range cs {
		listed[c.Path] = true
	}
	for _, c := range cs {
		for dir := path.Dir(c.Path); dir != "/" && !listed[dir]; dir = path.Dir(dir) {
			listed[dir] = true
			cs = append(cs, Change{Kind: Modify, Path: dir})
		}
	}
	return cs
}

// deletions appends a Delete for each path lower has and upper lacks.
func deletions(ctx context.Context, lower, upper string, out *[]Change) error {
	above, err := openTree(upper)
	if err != nil {
		return err
	}
	defer above.close()
	return walk(ctx, lower, func(rel string, fi fs.FileInfo) error {
		inUpper, err := above.exists(rel)
		if err != nil || inUpper {
			return err
		}
		*out = append(*out, Change{Kind: Delete, Path: "/" + rel})
		if fi.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// walk calls fn for every entry under root but root itself, in lexical order,
// with its path relative to root.
func walk(ctx context.Context, root string, fn func(rel string, fi fs.FileInfo) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), fi)
	})
}

// sameEntry reports whether two entries look unchanged, as Docker judges it:
// by metadata, not by reading contents.
func sameEntry(oldPath, newPath string, old, cur fs.FileInfo) (bool, error) {
	a, b := old.Sys().(*syscall.Stat_t), cur.Sys().(*syscall.Stat_t)
	if old.Mode() != cur.Mode() || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev ||
		a.Mtim != b.Mtim || (!cur.IsDir() && a.Size != b.Size) {
		return false, nil
	}
	if cur.Mode()&fs.ModeSymlink != 0 {
		t1, err1 := os.Readlink(oldPath)
		t2, err2 := os.Readlink(newPath)
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		if t1 != t2 {
			return false, nil
		}
	}
	return sameXattrs(oldPath, newPath)
}

func sameXattrs(p1, p2 string) (bool, error) {
	n1, err1 := listXattrs(p1)
	n2, err2 := listXattrs(p2)
	if err := errors.Join(err1, err2); err != nil {
		return false, err
	}
	if len(n1) != len(n2) {
		return false, nil
	}
	for _, name := range n1 {
		v1, err1 := getXattr(p1, name)
		v2, err2 := getXattr(p2, name)
		if errors.Is(err2, unix.ENODATA) {
			return false, nil
		}
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		if !bytes.Equal(v1, v2) {
			return false, nil
		}
	}
	return true, nil
}

// isWhiteout reports whether fi is an overlayfs whiteout: a character device 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// isOpaque reports whether overlayfs marked the upper directory p opaque.
func isOpaque(p string) (bool, error) {
	v, err := getXattr(p, "trusted.overlay.opaque")
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	return string(v) == "y", err
}
