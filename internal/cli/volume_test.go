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

// TestVolumeFromImage mounts a new named volume over a directory of the
// image: it starts with the image's files, owner and mode there, as docker's;
// a volume that has content keeps it, and a bind mount is left as it is.
func TestVolumeFromImage(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "--name", "seed", "busybox:test", "sh", "-c",
		"mkdir -p /srv/data/sub && echo seed > /srv/data/f && echo deep > /srv/data/sub/g && chown -R 1000:1000 /srv/data && chmod 750 /srv/data")
	mustStrata(t, root, "commit", "seed", "seeded:1")
	show := "cat /srv/data/f /srv/data/sub/g 2>&1; stat -c '%u %a' /srv/data"
	if got := mustStrata(t, root, "run", "--rm", "-v", "seedvol:/srv/data", "seeded:1", "sh", "-c", show+"; echo changed > /srv/data/f"); got != "seed\ndeep\n1000 750\n" {
		t.Fatalf("a new volume over the image's /srv/data: %q", got)
	}
	if got := mustStrata(t, root, "run", "--rm", "-v", "seedvol:/srv/data", "seeded:1", "cat", "/srv/data/f"); got != "changed\n" {
		t.Fatalf("a volume with content was filled again: %q", got)
	}
	if got := mustStrata(t, root, "run", "--rm", "-v", "/srv/data", "seeded:1", "cat", "/srv/data/sub/g"); got != "deep\n" {
		t.Fatalf("an anonymous volume: %q", got)
	}
	bind := t.TempDir()
	if got := mustStrata(t, root, "run", "--rm", "-v", bind+":/srv/data", "seeded:1", "ls", "/srv/data"); got != "" {
		t.Fatalf("a bind mount got the image's files: %q", got)
	}
}
