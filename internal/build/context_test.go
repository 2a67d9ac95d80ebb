package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

// contextDir makes a build context: files, a directory, symlinks that stay
// inside and ones that lead out, and a .dockerignore.
func contextDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ctx")
	files := map[string]string{
		"a.txt": "a", "b.txt": "b", "sub/c.txt": "c", "sub/deep/d.txt": "d",
		"secret.txt": "s", "logs/x.log": "x", "logs/keep.log": "k", ".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "..", "outside.txt"), []byte("o"), 0o644)
	for link, target := range map[string]string{
		"in.txt": "a.txt", "subdir": "sub", "abs": "/etc/passwd", "up": "../outside.txt", "sub/up2": "../../outside.txt",
		"loop": "loop",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestContextResolve(t *testing.T) {
	ctx, err := openContext(contextDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want, err string
	}{
		{path: "a.txt", want: "a.txt"},
		{path: "/a.txt", want: "a.txt"},
		{path: "./sub/../a.txt", want: "a.txt"},
		{path: "in.txt", want: "a.txt"},
		{path: "subdir/c.txt", want: "sub/c.txt"},
		{path: "missing/x", want: "missing/x"},
		{path: ".", want: "."},
		{path: "../outside.txt", err: "forbidden path outside the build context"},
		{path: "sub/../../outside.txt", err: "forbidden path outside the build context"},
		{path: "abs", err: "points to /etc/passwd, outside the build context"},
		{path: "up", err: "outside the build context"},
		{path: "sub/up2", err: "outside the build context"},
		{path: "loop", err: "too many levels of symbolic links"},
	} {
		got, err := ctx.resolve(tc.path)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err)):
			t.Errorf("resolve(%q) = %q, %v; want an invalid-argument error with %q", tc.path, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("resolve(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

// In a stage's file system, links resolve inside it, as in a container.
func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "real/dir"), 0o755)
	os.Symlink("/real", filepath.Join(root, "abs"))
	os.Symlink("../../../../real", filepath.Join(root, "real/dir/up"))
	for p, want := range map[string]string{"abs/dir": "real/dir", "real/dir/up/dir/new": "real/dir/new", "../../x": "x"} {
		got, err := resolveIn(root, p, true)
		if err != nil || got != want {
			t.Errorf("resolveIn(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
}

func TestDockerignoreAndGlob(t *testing.T) {
	ctx, err := openContext(contextDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"secret.txt": true, "logs/x.log": true, "logs/keep.log": false, "a.txt": false, "logs": true} {
		if got := ctx.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
	for pattern, want := range map[string]string{
		"*.txt":     "a.txt b.txt in.txt",
		"sub/*.txt": "sub/c.txt",
		"s*":        "sub subdir",
		"logs/*":    "logs/keep.log",
		"nothing*":  "",
	} {
		got, err := ctx.glob(pattern)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("glob(%q) = %q, %v; want %q", pattern, got, err, want)
		}
	}
	if _, err := ctx.glob("[a"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("glob of a bad pattern: %v, want an invalid-argument error", err)
	}
}

// The hash of a source changes with a file's content, name or mode, and
// not with its time; .dockerignore'd files do not count.
func TestSourceHash(t *testing.T) {
	dir := contextDir(t)
	hash := func(rel string) string {
		t.Helper()
		ctx, err := openContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, h, err := ctx.walk(rel)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	file, tree := hash("a.txt"), hash(".")
	if !strings.HasPrefix(file, "file:") || !strings.HasPrefix(tree, "dir:") {
		t.Fatalf("hashes %q, %q: want file: and dir:", file, tree)
	}
	os.Chtimes(filepath.Join(dir, "a.txt"), timeZero, timeZero)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("changed, but ignored"), 0o644)
	if hash("a.txt") != file || hash(".") != tree {
		t.Error("the hash changed with a time or an ignored file")
	}
	os.Chmod(filepath.Join(dir, "a.txt"), 0o600)
	if hash("a.txt") == file || hash(".") == tree {
		t.Error("the hash did not change with the mode")
	}
	os.WriteFile(filepath.Join(dir, "sub/deep/d.txt"), []byte("D"), 0o644)
	if h := hash("sub"); h == hash(".") || h == "" {
		t.Error("a sub-directory hashes as the context")
	}
}
