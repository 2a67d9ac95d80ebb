package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
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

// withStubs lists the mount points runc will make for targets in the
// mounted file system rootfs, and returns what removes those still empty
// once the container has exited.
func withStubs(rootfs string, targets []string) (remove func() error, err error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	stubs := mountStubs(root, targets)
	return func() error {
		defer root.Close()
		if err := removeStubs(root, stubs); err != nil {
			return fmt.Errorf("remove the mount points of the step: %w", err)
		}
		return nil
	}, nil
}
