package container

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/strata-dev/strata/internal/snapshot"
)

// A build step's mounts (RUN --mount: caches, secrets, binds) need mount
// points, which runc makes in the step's writable layer when the image
// lacks them. They are not what the step changed: the step's diff leaves
// them out, as BuildKit's does, so that no layer records, say, an empty
// /run/secrets/token.

// mountStubs lists the paths runc would make for targets in the file
// system at root: each target and its missing parents, deepest first.
func mountStubs(root *os.Root, targets []string) []string {
	seen := map[string]bool{}
	var stubs []string
	for _, t := range targets {
		walked := ""
		for _, part := range strings.Split(strings.Trim(path.Clean("/"+t), "/"), "/") {
			if part == "" {
				continue
			}
			walked = path.Join(walked, part)
			if seen[walked] {
				continue
			}
			if _, err := root.Lstat(walked); errors.Is(err, fs.ErrNotExist) {
				seen[walked] = true
				stubs = append(stubs, walked)
			}
		}
	}
	slices.SortFunc(stubs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return stubs
}

// removeStubs removes the mount points that are still empty: an empty
// file, or a directory the step put nothing in.
func removeStubs(root *os.Root, stubs []string) error {
	for _, p := range stubs {
		fi, err := root.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Size() > 0 || !fi.Mode().IsRegular() && !fi.IsDir() {
			continue
		}
		if err := root.Remove(p); err != nil && !isNotEmpty(err) {
			return err
		}
	}
	return nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// withSnapshot mounts the writable snapshot key for fn.
func (m *Manager) withSnapshot(ctx context.Context, key string, fn func(root *os.Root) error) error {
	mounts, err := m.sn.Mounts(ctx, key)
	if err != nil {
		return err
	}
	return snapshot.WithTempMount(ctx, m.sn, mounts, func(dir string) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return err
		}
		defer root.Close()
		return fn(root)
	})
}
