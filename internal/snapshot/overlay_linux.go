package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// NewOverlay opens the overlayfs snapshotter in root. An active snapshot's
// fs/ is the upper directory of an overlay whose lower directories are its
// parents' fs/, so it holds only what changed: whiteouts for deletions, opaque
// directories, copied-up files.
func NewOverlay(root string) (LayerSnapshotter, error) {
	s, err := newSnapshotter(root, overlay{})
	if err != nil {
		return nil, err
	}
	return layered{s}, nil
}

// layered is the overlay snapshotter: a committed snapshot's fs/ is its
// layer's upper directory, which sits on any parent as well as on another.
type layered struct{ *snapshotter }

func (l layered) PrepareLayer(ctx context.Context, key string) (string, error) {
	r, err := l.add(KindActive, key, "", nil)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.dir(r.ID), "fs"), nil
}

func (l layered) CommitOnto(ctx context.Context, name, key, parent string) error {
	return l.locked(key, func(r record) error {
		if r.Kind != KindActive {
			return fmt.Errorf("snapshot %q is %s; only an active one commits: %w", key, r.Kind, errdefs.ErrInvalidArgument)
		}
		r, err := l.withParent(r, parent)
		if err != nil {
			return err
		}
		return l.commit(r, name, key)
	})
}

type overlay struct{}

func (overlay) name() string { return "overlay" }

func (overlay) create(dir string, kind Kind, parents []string) error {
	if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
		return err
	}
	if kind == KindActive {
		return os.Mkdir(filepath.Join(dir, "work"), 0o700)
	}
	return nil
}

func (overlay) mounts(dir string, kind Kind, parents []string) []Mount {
	fsDir := filepath.Join(dir, "fs")
	switch {
	case len(parents) == 0 && kind == KindActive:
		return []Mount{{Type: "bind", Source: fsDir, Options: []string{"rw", "rbind"}}}
	case len(parents) == 0:
		return []Mount{{Type: "bind", Source: fsDir, Options: []string{"ro", "rbind"}}}
	case kind == KindView && len(parents) == 1:
		// overlayfs wants two lower directories when it has no upper one.
		return []Mount{{Type: "bind", Source: filepath.Join(parents[0], "fs"), Options: []string{"ro", "rbind"}}}
	}
	lowers := make([]string, len(parents))
	for i, p := range parents {
		lowers[i] = filepath.Join(p, "fs")
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":")}
	if kind == KindActive {
		opts = append(opts, "upperdir="+fsDir, "workdir="+filepath.Join(dir, "work"))
	}
	return []Mount{{Type: "overlay", Source: "overlay", Options: append(opts, overlayOptions()...)}}
}

// overlayOptions turns off the overlayfs features that make an upper
// directory more than a plain changeset (directory renames recorded as
// redirects, metadata-only copy-ups), where the kernel has them on by default.
func overlayOptions() []string {
	var opts []string
	for _, p := range []string{"redirect_dir", "metacopy"} {
		b, err := os.ReadFile("/sys/module/overlay/parameters/" + p)
		if err == nil && strings.TrimSpace(string(b)) != "N" {
			opts = append(opts, p+"=off")
		}
	}
	return opts
}

// OverlaySupported tells whether overlayfs works for snapshots in dir: it
// mounts a two-layer overlay there, deletes a lower file and makes an opaque
// directory through it, and checks what the upper directory holds.
func OverlaySupported(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	probe, err := os.MkdirTemp(dir, "overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(probe)
	p := func(s string) string { return filepath.Join(probe, s) }
	for _, d := range []string{"l1/d", "l2", "upper", "work", "merged"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(p("l2/f"), nil, 0o644); err != nil {
		return err
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: append([]string{
		"lowerdir=" + p("l1") + ":" + p("l2"), "upperdir=" + p("upper"), "workdir=" + p("work")}, overlayOptions()...)}
	if err := MountPrivate([]Mount{m}, p("merged")); err != nil {
		return err
	}
	defer Unmount(p("merged"))
	if err := os.Remove(p("merged/f")); err != nil {
		return fmt.Errorf("overlayfs: delete through the mount: %w", err)
	}
	if err := os.RemoveAll(p("merged/d")); err != nil {
		return fmt.Errorf("overlayfs: delete a directory through the mount: %w", err)
	}
	if err := os.Mkdir(p("merged/d"), 0o755); err != nil {
		return fmt.Errorf("overlayfs: make a directory through the mount: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p("upper/f"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		return fmt.Errorf("overlayfs does not record deletions as whiteout devices here")
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(p("upper/d"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		return fmt.Errorf("overlayfs does not mark opaque directories with trusted.overlay.opaque here")
	}
	return nil
}
