package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
)

// Changes lists what the active snapshot key changed on top of its parent,
// as `docker diff` shows it.
func Changes(ctx context.Context, sn Snapshotter, key string) ([]archive.Change, error) {
	var out []archive.Change
	err := withChanges(ctx, sn, key, func(_ string, cs []archive.Change) error { out = cs; return nil })
	return out, err
}

// WriteDiff writes what the active snapshot key changed on top of its parent
// to w as a layer tar (whiteouts for deletions, opaque markers), and returns
// the changes.
func WriteDiff(ctx context.Context, sn Snapshotter, key string, w io.Writer) ([]archive.Change, error) {
	var out []archive.Change
	err := withChanges(ctx, sn, key, func(root string, cs []archive.Change) error {
		out = cs
		return archive.WriteChanges(ctx, w, root, cs)
	})
	return out, err
}

// WriteLayer is WriteDiff for a snapshot whose overlay was mounted and
// written through (a build step's), which it reads from the upper
// directory alone (see archive.UpperChanges), with no view of its parent
// to mount; the changes it returns do not tell additions from changes.
// Other snapshots it diffs as WriteDiff does.
func WriteLayer(ctx context.Context, sn Snapshotter, key string, w io.Writer) ([]archive.Change, error) {
	mounts, err := sn.Mounts(ctx, key)
	if err != nil {
		return nil, err
	}
	upper := overlayUpper(mounts)
	if upper == "" {
		return WriteDiff(ctx, sn, key, w)
	}
	cs, err := archive.UpperChanges(ctx, upper)
	if err != nil {
		return nil, err
	}
	return cs, archive.WriteChanges(ctx, w, upper, cs)
}

// withChanges finds the changes of key against a view of its parent, and
// calls fn with them and a directory holding the new files: an overlay's
// upper directory, or the mounted snapshot.
func withChanges(ctx context.Context, sn Snapshotter, key string, fn func(root string, cs []archive.Change) error) error {
	info, err := sn.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.Kind != KindActive {
		return fmt.Errorf("snapshot %q is %s; changes are those of an active one: %w", key, info.Kind, errdefs.ErrInvalidArgument)
	}
	mounts, err := sn.Mounts(ctx, key)
	if err != nil {
		return err
	}
	return withParentView(ctx, sn, info.Parent, func(lower string) error {
		if upper := overlayUpper(mounts); upper != "" {
			cs, err := archive.OverlayChanges(ctx, lower, upper)
			if err != nil {
				return err
			}
			return fn(upper, cs)
		}
		return WithTempMount(ctx, sn, readOnly(mounts), func(root string) error {
			cs, err := archive.TreeChanges(ctx, lower, root)
			if err != nil {
				return err
			}
			return fn(root, cs)
		})
	})
}

// withParentView mounts a view of parent (an empty directory for none) for fn.
func withParentView(ctx context.Context, sn Snapshotter, parent string, fn func(lower string) error) error {
	if parent == "" {
		empty, err := TempDir(sn, "empty-")
		if err != nil {
			return err
		}
		defer os.Remove(empty)
		return fn(empty)
	}
	key := "view-" + randomID() + "-" + parent
	mounts, err := sn.View(ctx, key, parent, nil)
	if err != nil {
		return err
	}
	defer sn.Remove(context.WithoutCancel(ctx), key)
	return WithTempMount(ctx, sn, mounts, fn)
}

// overlayUpper is the upper directory of an overlay mount, "" for others.
func overlayUpper(mounts []Mount) string {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return ""
	}
	for _, o := range mounts[0].Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			return v
		}
	}
	return ""
}

// readOnly is mounts with "rw" made "ro".
func readOnly(mounts []Mount) []Mount {
	out := make([]Mount, len(mounts))
	for i, m := range mounts {
		m.Options = append([]string{}, m.Options...)
		for j, o := range m.Options {
			if o == "rw" {
				m.Options[j] = "ro"
			}
		}
		out[i] = m
	}
	return out
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
