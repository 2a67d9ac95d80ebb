package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCopy drives cp both ways, with files, directories and tar streams,
// and with the hostile cases: a container's symlink that points at host
// paths resolves inside the container, out and in, and a tar whose entry
// climbs out is refused.
func TestCopy(t *testing.T) {
	root := busyboxRoot(t, "")
	hostTarget := filepath.Join(t.TempDir(), "host-target")
	mustStrata(t, root, "run", "-d", "--name", "box", "busybox:test", "sh", "-c",
		"mkdir -p /app/sub && echo one > /app/a && echo two > /app/sub/b && ln -s ../../../../../etc /esc && mkdir -p "+hostTarget+" && ln -s "+hostTarget+" /app/out && sleep 300")
	waitFor := func(p string) {
		for i := 0; i < 100; i++ {
			if _, err := strata(t, root, nil, "exec", "box", "test", "-L", p); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("/app/out")
	out := t.TempDir()
	mustStrata(t, root, "cp", "box:/app", out)
	for p, want := range map[string]string{"app/a": "one\n", "app/sub/b": "two\n"} {
		if b, err := os.ReadFile(filepath.Join(out, p)); string(b) != want {
			t.Errorf("cp out of a directory: %s = %q, %v", p, b, err)
		}
	}
	mustStrata(t, root, "cp", "box:/app/a", filepath.Join(out, "renamed"))
	if b, _ := os.ReadFile(filepath.Join(out, "renamed")); string(b) != "one\n" {
		t.Errorf("cp out of a file to a new name: %q", b)
	}
	mustStrata(t, root, "cp", "box:/esc/passwd", filepath.Join(out, "passwd"))
	if b, _ := os.ReadFile(filepath.Join(out, "passwd")); !strings.Contains(string(b), "app:x:1000") {
		t.Errorf("a symlink out of the container was followed on the host: %q", b)
	}
	tarOut := mustStrata(t, root, "cp", "box:/app", "-")
	if !strings.Contains(tarOut, "app/sub/b") {
		t.Errorf("cp to - is not a tar of app/: %q", tarOut[:min(200, len(tarOut))])
	}

	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("hi\n"), 0o644)
	mustStrata(t, root, "cp", in, "box:/app/")
	mustStrata(t, root, "cp", in, "box:/app/named")
	mustStrata(t, root, "cp", in, "box:/app/out/x")
	if got := mustStrata(t, root, "exec", "box", "cat", "/app/in.txt", "/app/named", hostTarget+"/x"); got != "hi\nhi\nhi\n" {
		t.Errorf("cp in: %q", got)
	}
	if _, err := os.Stat(hostTarget); !os.IsNotExist(err) {
		t.Errorf("cp in through the container's symlink wrote to the host: %v", err)
	}
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Name: "../../../../../tmp/strata-cp-escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := strata(t, root, evil.Bytes(), "cp", "-", "box:/app"); err == nil {
		t.Errorf("a tar entry climbing out was accepted")
	}
	if _, err := os.Stat("/tmp/strata-cp-escape"); err == nil {
		os.Remove("/tmp/strata-cp-escape")
		t.Errorf("a tar entry climbed out of the container")
	}
	mustStrata(t, root, "stop", "-t", "0", "box")
	mustStrata(t, root, "cp", in, "box:/app/stopped")
	if b := mustStrata(t, root, "cp", "box:/app/stopped", "-"); !strings.Contains(b, "hi\n") {
		t.Errorf("cp with a stopped container: %q", b)
	}
}

// TestCopyMounts copies into and out of a running container's named
// volume and tmpfs mount: cp sees the container's own mounts, as docker cp.
func TestCopyMounts(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "-d", "--name", "mnt", "-v", "cpdata:/data", "--tmpfs", "/scratch", "busybox:test", "sh", "-c",
		"echo vol > /data/v && echo tmp > /scratch/t && touch /ready && sleep 300")
	for i := 0; i < 200; i++ {
		if _, err := strata(t, root, nil, "exec", "mnt", "test", "-e", "/ready"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := t.TempDir()
	mustStrata(t, root, "cp", "mnt:/data/v", filepath.Join(out, "v"))
	mustStrata(t, root, "cp", "mnt:/scratch", filepath.Join(out, "scratch"))
	for p, want := range map[string]string{"v": "vol\n", "scratch/t": "tmp\n"} {
		if b, err := os.ReadFile(filepath.Join(out, p)); string(b) != want {
			t.Errorf("cp out of a mount: %s = %q, %v", p, b, err)
		}
	}
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("hi\n"), 0o644)
	mustStrata(t, root, "cp", in, "mnt:/data/")
	mustStrata(t, root, "cp", in, "mnt:/scratch/in")
	if got := mustStrata(t, root, "exec", "mnt", "cat", "/data/in.txt", "/scratch/in"); got != "hi\nhi\n" {
		t.Errorf("cp into the mounts: %q", got)
	}
	mustStrata(t, root, "rm", "-f", "mnt")
	if got := mustStrata(t, root, "run", "--rm", "-v", "cpdata:/data", "busybox:test", "cat", "/data/in.txt"); got != "hi\n" {
		t.Errorf("the file cp put in the volume is not in it: %q", got)
	}
}
