package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/snapshot"
)

// snapshotNames lists the snapshots under a store root.
func snapshotNames(t *testing.T, root string) []string {
	t.Helper()
	sn, err := snapshot.Open(filepath.Join(root, "snapshots"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sn.Walk(context.Background(), func(i snapshot.Info) error { names = append(names, i.Name); return nil })
	return names
}

// TestImagesAndTheirSnapshots: an imported image is unpacked at once; an
// image a container uses is kept by rmi; removing the image removes its
// unpacked layers.
func TestImagesAndTheirSnapshots(t *testing.T) {
	root := busyboxRoot(t, "")
	if n := snapshotNames(t, root); len(n) != 1 || !strings.HasPrefix(n[0], "sha256:") {
		t.Fatalf("after import, snapshots %v; want the image's one layer", n)
	}
	dir := strings.TrimSpace(mustStrata(t, root, "image", "mount", "busybox:test"))
	if again := strings.TrimSpace(mustStrata(t, root, "image", "mount", "busybox:test")); again != dir {
		t.Fatalf("a second mount is at %s, the first at %s", again, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
		t.Fatalf("the mounted image: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err == nil {
		t.Fatal("the mounted image is writable")
	}
	mustStrata(t, root, "image", "unmount", "busybox:test")
	if _, err := os.Stat(filepath.Join(dir, "bin")); err == nil {
		t.Fatal("the image is still mounted after unmount")
	}
	mustStrata(t, root, "run", "--name", "keeper", "busybox:test", "true")
	_, err := strata(t, root, nil, "rmi", "busybox:test")
	if err == nil || !strings.Contains(err.Error(), "being used by container") {
		t.Fatalf("rmi of an image a container uses: %v", err)
	}
	mustStrata(t, root, "rm", "keeper")
	mustStrata(t, root, "rmi", "busybox:test")
	if n := snapshotNames(t, root); len(n) != 0 {
		t.Fatalf("after rmi, snapshots %v remain", n)
	}
}
