package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVolumes drives volumes as a docker user would: a named volume kept
// across containers, an anonymous one removed by rm -v (and by --rm),
// relative bind paths, --mount of each type, :z accepted, volume
// ls/inspect/rm/prune, and a volume in use refused.
func TestVolumes(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "--rm", "-v", "data:/data", "busybox:test", "sh", "-c", "echo kept > /data/f")
	if out := mustStrata(t, root, "run", "--rm", "-v", "data:/data:ro,z", "busybox:test", "cat", "/data/f"); out != "kept\n" {
		t.Errorf("named volume: %q", out)
	}
	if _, err := strata(t, root, nil, "run", "--rm", "-v", "data:/data:ro", "busybox:test", "touch", "/data/g"); err == nil {
		t.Errorf("a read-only volume was written")
	}
	mustStrata(t, root, "run", "--name", "anon", "-v", "/scratch", "busybox:test", "true")
	mustStrata(t, root, "run", "--rm", "-v", "/gone", "busybox:test", "true")
	if ls := mustStrata(t, root, "volume", "ls", "-q"); len(strings.Fields(ls)) != 2 || !strings.Contains(ls, "data\n") {
		t.Errorf("volume ls, before rm -v: %q (want data and anon's volume; --rm removed its own)", ls)
	}
	if _, err := strata(t, root, nil, "volume", "rm", "data"); err != nil {
		t.Errorf("volume rm of an unused volume: %v", err)
	}
	mustStrata(t, root, "volume", "create", "-l", "k=v", "kept")
	if insp := mustStrata(t, root, "volume", "inspect", "kept"); !strings.Contains(insp, `"k": "v"`) || !strings.Contains(insp, filepath.Join(root, "volumes", "kept", "_data")) {
		t.Errorf("volume inspect: %s", insp)
	}
	mustStrata(t, root, "create", "--name", "user", "--mount", "source=kept,target=/k", "busybox:test", "true")
	if _, err := strata(t, root, nil, "volume", "rm", "kept"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("volume rm of a volume in use: %v", err)
	}
	mustStrata(t, root, "rm", "-v", "anon")
	if ls := mustStrata(t, root, "volume", "ls", "-q"); ls != "kept\n" {
		t.Errorf("after rm -v: %q", ls)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello"), []byte("relative\n"), 0o644)
	wd, _ := os.Getwd()
	os.Chdir(filepath.Dir(dir))
	defer os.Chdir(wd)
	out := mustStrata(t, root, "run", "--rm", "-v", "./"+filepath.Base(dir)+":/rel", "--mount", "type=bind,src="+dir+",dst=/abs,readonly",
		"--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "busybox:test", "sh", "-c", "cat /rel/hello /abs/hello; df /t | tail -1")
	if !strings.Contains(out, "relative\nrelative\n") || !strings.Contains(out, "1024") {
		t.Errorf("relative bind, --mount bind and tmpfs: %q", out)
	}
	mustStrata(t, root, "rm", "user")
	if out := mustStrata(t, root, "volume", "prune", "-a", "-f"); !strings.Contains(out, "kept") {
		t.Errorf("volume prune -a: %q", out)
	}
}
