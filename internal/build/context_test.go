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
	ctx, err := openContext(contextDir(t), nil)
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
	fsys, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for p, want := range map[string]string{"abs/dir": "real/dir", "real/dir/up/dir/new": "real/dir/new", "../../x": "x"} {
		got, err := resolveIn(fsys, p, true, nil)
		if err != nil || got != want {
			t.Errorf("resolveIn(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
}

func TestDockerignoreAndGlob(t *testing.T) {
	ctx, err := openContext(contextDir(t), nil)
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
		matches, err := ctx.glob(pattern)
		var got []string
		for _, m := range matches {
			got = append(got, m.name)
		}
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
		ctx, err := openContext(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, h, err := ctx.walk(rel, nil)
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

// hostileContext is a context whose symlinks try every way out: to an
// absolute host path, up out of the context, through a linked directory,
// and to files .dockerignore leaves out. secret is a host file none of
// them may reach.
func hostileContext(t *testing.T) (dir, secret string) {
	t.Helper()
	top := t.TempDir()
	secret = filepath.Join(top, "host-secret.txt")
	os.WriteFile(secret, []byte("HOST SECRET"), 0o600)
	os.MkdirAll(filepath.Join(top, "hostdir"), 0o755)
	os.WriteFile(filepath.Join(top, "hostdir", "h.txt"), []byte("HOST SECRET"), 0o600)
	dir = filepath.Join(top, "ctx")
	for name, body := range map[string]string{
		"ok.txt": "ok", "ignored.txt": "IGNORED", "logs/x.log": "IGNORED", "logs/keep.log": "k", "sub/s.txt": "s",
		".dockerignore": "ignored.txt\nlogs\n!logs/keep.log\nhidden-link.txt\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	for link, target := range map[string]string{
		"abs.txt": secret, "up.txt": "../host-secret.txt", "toignored.txt": "ignored.txt",
		"hidden-link.txt": "ok.txt", "absdir": filepath.Join(top, "hostdir"), "updir": "../hostdir",
		"logsdir": "logs", "sub/deep.txt": "../../host-secret.txt", "chain.txt": "sub/../toignored.txt",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, secret
}

// TestHostileContext: whether named plainly or by a pattern, no source
// leads out of the context or to a file .dockerignore leaves out; what
// stays inside is copied.
func TestHostileContext(t *testing.T) {
	dir, _ := hostileContext(t)
	ctx, err := openContext(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	for _, tc := range []struct {
		src  string
		want string // the sources' names, or the error
		err  func(error) bool
	}{
		{src: "*.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "abs.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "a*.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "u?.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "up.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "absdir/*.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "updir/h.txt", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "[au]*", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "sub/*", want: "outside the build context", err: errdefs.IsInvalidArgument},
		{src: "../*.txt", want: "forbidden path outside the build context", err: errdefs.IsInvalidArgument},
		{src: "toignored.txt", want: "which .dockerignore leaves out", err: errdefs.IsNotFound},
		{src: "to*.txt", want: "which .dockerignore leaves out", err: errdefs.IsNotFound},
		{src: "chain.txt", want: "which .dockerignore leaves out", err: errdefs.IsNotFound},
		{src: "logsdir/x.log", want: "which .dockerignore leaves out", err: errdefs.IsNotFound},
		{src: "logsdir/*.log", want: "which .dockerignore leaves out", err: errdefs.IsNotFound},
		{src: "hidden-link.txt", want: "excluded by .dockerignore", err: errdefs.IsNotFound},
		{src: "ignored.txt", want: "excluded by .dockerignore", err: errdefs.IsNotFound},
		{src: "ignored*", want: "no source files were specified", err: errdefs.IsNotFound},
		{src: "logsdir/keep.log", want: "keep.log"},
		{src: "o*.txt", want: "ok.txt"},
		{src: "*/s.txt", want: "s.txt"},
		{src: "sub", want: "sub"},
	} {
		srcs, err := resolveSource(ctx, tc.src, &copyCmd{add: true})
		if tc.err != nil {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !tc.err(err) {
				t.Errorf("%s: %v; want an error with %q of its class", tc.src, err, tc.want)
			}
			continue
		}
		var names []string
		for _, s := range srcs {
			names = append(names, s.name)
		}
		if err != nil || strings.Join(names, " ") != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.src, names, err, tc.want)
		}
		assertNoLeak(t, tc.src, srcs)
	}
}

// assertNoLeak reads every file the sources would copy: none may be a
// host file or an ignored one; a symlink below a directory is copied as
// a link, never followed.
func assertNoLeak(t *testing.T, src string, srcs []copySource) {
	t.Helper()
	for _, s := range srcs {
		for _, e := range s.entries {
			if !e.info.Mode().IsRegular() {
				continue
			}
			f, err := e.open()
			if err != nil {
				t.Errorf("%s: open %s: %v", src, e.path, err)
				continue
			}
			b := make([]byte, 64)
			n, _ := f.Read(b)
			f.Close()
			if body := string(b[:n]); body == "HOST SECRET" || body == "IGNORED" {
				t.Errorf("%s: %s reads %q", src, e.path, body)
			}
		}
	}
}

// TestHostileImageTree: in an image's or a stage's file system (COPY
// --from), symlinks resolve inside it, as in a container, so an absolute
// link to a host file finds the image's own file, or nothing, never the
// host's.
func TestHostileImageTree(t *testing.T) {
	_, secret := hostileContext(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "data"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "mine.txt"), []byte("image's own"), 0o644)
	os.MkdirAll(filepath.Join(root, filepath.Dir(secret)), 0o755)
	os.WriteFile(filepath.Join(root, "data", "shadowed"), nil, 0o644)
	for link, target := range map[string]string{
		"data/abs.txt": secret, "data/up.txt": "../../../../../../" + secret, "data/dir": filepath.Dir(secret),
		"data/own.txt": "/data/mine.txt",
	} {
		os.Symlink(target, filepath.Join(root, link))
	}
	img, err := openTree(root, "--from=image")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, tc := range []struct{ src, want string }{
		{"data/abs.txt", "not found"}, {"data/a*.txt", "not found"}, {"data/up.txt", "not found"},
		{"data/u*", "not found"}, {"data/dir/host-secret.txt", "not found"},
		{"data/own.txt", "own.txt"}, {"/data/o*", "own.txt"},
	} {
		srcs, err := resolveSource(img, tc.src, &copyCmd{})
		if tc.want == "not found" {
			if !errdefs.IsNotFound(err) {
				t.Errorf("%s: %v, want not found", tc.src, err)
			}
			continue
		}
		if err != nil || len(srcs) != 1 || srcs[0].name != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.src, srcs, err, tc.want)
		}
		assertNoLeak(t, tc.src, srcs)
	}
	// The image has a file where the host's secret is: that one is read.
	os.WriteFile(filepath.Join(root, secret), []byte("in the image"), 0o644)
	srcs, err := resolveSource(img, "data/abs.txt", &copyCmd{})
	if err != nil || len(srcs) != 1 || srcs[0].entries[0].path != strings.TrimPrefix(secret, "/") {
		t.Errorf("data/abs.txt with the file in the image: %v, %v", srcs, err)
	}
}

// A .dockerignore that is a symlink out of the context is refused, not
// read from the host.
func TestDockerignoreLinkOut(t *testing.T) {
	dir, secret := hostileContext(t)
	os.Remove(filepath.Join(dir, ".dockerignore"))
	os.Symlink(secret, filepath.Join(dir, ".dockerignore"))
	if _, err := openContext(dir, nil); err == nil || !strings.Contains(err.Error(), "outside the build context") {
		t.Errorf("a .dockerignore linked out: %v", err)
	}
}

// COPY --parents keeps each source's path (after a "/./" pivot), "**"
// crossing directories; --exclude leaves out what its patterns match
// below each source, as .dockerignore's would.
func TestParentsAndExclude(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	for _, name := range []string{"x/a.txt", "y/a.txt", "x/y/b.txt", "src/a.txt", "src/x/b.txt", "src/x/y/c.md", "hom1.txt", "home/h.md", "home/sub/s.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
	}
	ctx, err := openContext(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	names := func(c *copyCmd, srcs ...string) string {
		var out []string
		for _, p := range srcs {
			got, err := resolveSource(ctx, p, c)
			if err != nil {
				return err.Error()
			}
			for _, s := range got {
				n := s.name
				for _, e := range s.entries[1:] {
					n += "+" + e.rel
				}
				out = append(out, n)
			}
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		c    copyCmd
		srcs []string
		want string
	}{
		{copyCmd{}, []string{"./x/a.txt", "./y/a.txt"}, "a.txt a.txt"},
		{copyCmd{parents: true}, []string{"./x/a.txt", "./y/a.txt"}, "x/a.txt y/a.txt"},
		{copyCmd{parents: true}, []string{"./x/./y/*.txt"}, "y/b.txt"},
		{copyCmd{parents: true}, []string{"./src/**/*.txt"}, "src/a.txt src/x/b.txt"},
		{copyCmd{parents: true}, []string{"x"}, "x+a.txt+y+y/b.txt"},
		{copyCmd{exclude: []string{"*.txt"}}, []string{"hom*"}, "hom1.txt home+h.md+sub+sub/s.txt"}, // as BuildKit: below each match
		{copyCmd{exclude: []string{"**/*.txt"}}, []string{"home"}, "home+h.md+sub"},
		{copyCmd{exclude: []string{"sub"}}, []string{"home"}, "home+h.md"},
	} {
		if got := names(&tc.c, tc.srcs...); got != tc.want {
			t.Errorf("%+v %v: %q, want %q", tc.c, tc.srcs, got, tc.want)
		}
	}
}
