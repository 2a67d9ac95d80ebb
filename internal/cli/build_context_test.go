package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil"
)

// tarBytes is a tar of files (name -> content), gzipped when zip.
func tarBytes(t *testing.T, files map[string]string, zip bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var zw *gzip.Writer
	tw := tar.NewWriter(w)
	if zip {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	}
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

// TestBuildContexts: a tar on standard input (plain and gzipped, with -f
// naming a Dockerfile in it), "-f -" with a context directory, a git
// repository (a local bare one, #REF:SUBDIR), a Containerfile when there
// is no Dockerfile; a tar that climbs out of its context is refused.
func TestBuildContexts(t *testing.T) {
	root := busyboxRoot(t, "")
	run := func(ref string) string { return mustStrata(t, root, "run", "--rm", ref, "cat", "/ctx.txt") }
	files := map[string]string{"Dockerfile": "FROM busybox:test\nCOPY ctx.txt /\n", "ctx.txt": "from the tar\n",
		"other/Dockerfile.alt": "FROM busybox:test\nCOPY ctx.txt /\nLABEL alt=yes\n"}
	for _, zip := range []bool{false, true} {
		if _, err := strata(t, root, tarBytes(t, files, zip), "build", "-q", "-t", "tarctx:1", "-"); err != nil {
			t.Fatalf("tar on stdin (gzip %v): %v", zip, err)
		}
		if got := run("tarctx:1"); got != "from the tar\n" {
			t.Errorf("tar context (gzip %v): %q", zip, got)
		}
	}
	if _, err := strata(t, root, tarBytes(t, files, true), "build", "-q", "-f", "other/Dockerfile.alt", "-t", "tarctx:alt", "-"); err != nil {
		t.Fatalf("-f in a tar context: %v", err)
	}
	if got := mustStrata(t, root, "image", "inspect", "-f", "{{.Config.Labels.alt}}", "tarctx:alt"); got != "yes\n" {
		t.Errorf("-f other/Dockerfile.alt built another Dockerfile: label %q", got)
	}
	hostile := tarBytes(t, map[string]string{"Dockerfile": "FROM busybox:test\n", "../../escape.txt": "x"}, false)
	if out, err := strata(t, root, hostile, "build", "-"); err == nil {
		t.Errorf("a tar context with ../ entries built: %s", out)
	}

	dir := writeContext(t, map[string]string{"ctx.txt": "from the directory\n"})
	if _, err := strata(t, root, []byte("FROM busybox:test\nCOPY ctx.txt /\n"), "build", "-q", "-f", "-", "-t", "stdinfile:1", dir); err != nil {
		t.Fatalf("-f - with a context directory: %v", err)
	}
	if got := run("stdinfile:1"); got != "from the directory\n" {
		t.Errorf("-f - DIR: %q", got)
	}

	contain := writeContext(t, map[string]string{"Containerfile": "FROM busybox:test\nCOPY ctx.txt /\n", "ctx.txt": "containerfile\n"})
	mustBuild(t, root, "-t", "containerfile:1", contain)
	if got := run("containerfile:1"); got != "containerfile\n" {
		t.Errorf("Containerfile: %q", got)
	}

	repo := bareRepository(t, map[string]string{"app/Dockerfile": "FROM busybox:test\nCOPY ctx.txt /\n", "app/ctx.txt": "from git\n",
		"Dockerfile": "FROM busybox:test\nRUN false\n"})
	mustBuild(t, root, "-t", "git:1", repo+"#release:app")
	if got := run("git:1"); got != "from git\n" {
		t.Errorf("git context: %q", got)
	}
	for _, tc := range []struct{ arg, want string }{
		{repo + "#no-such-branch:app", "no-such-branch"},
		{repo + "#release:missing", "missing is not a directory"},
		{repo + "#release:../..", "outside the build context"},
	} {
		if _, progress, code := buildOut(t, root, tc.arg); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%s: exit %d, want %q:\n%s", tc.arg, code, tc.want, progress)
		}
	}
}

// bareRepository makes a bare git repository whose branch "release" holds
// files, and returns its path.
func bareRepository(t *testing.T, files map[string]string) string {
	t.Helper()
	git := testutil.Tool(t, "git")
	work := writeContext(t, files)
	bare := filepath.Join(t.TempDir(), "repo.git")
	env := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	for _, args := range [][]string{
		{"-C", work, "init", "-q", "-b", "main"}, {"-C", work, "add", "."}, {"-C", work, "commit", "-q", "-m", "files"},
		{"-C", work, "branch", "release"}, {"clone", "-q", "--bare", work, bare},
	} {
		cmd := exec.Command(git, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return bare
}

// TestBuildDockerfileIgnore: a Dockerfile's own NAME.dockerignore, beside
// it, replaces the context's .dockerignore, as in BuildKit.
func TestBuildDockerfileIgnore(t *testing.T) {
	root := busyboxRoot(t, "")
	dockerfile := "FROM busybox:test\nCOPY . /ctx/\nCMD [\"ls\", \"/ctx\"]\n"
	ctx := writeContext(t, map[string]string{"a.txt": "a", "b.txt": "b", "Dockerfile": dockerfile, "dev.Dockerfile": dockerfile,
		".dockerignore": "b.txt\n*ockerfile*\n.dockerignore\n", "dev.Dockerfile.dockerignore": "a.txt\n*ockerfile*\n.dockerignore\n"})
	mustBuild(t, root, "-t", "ign:plain", ctx)
	mustBuild(t, root, "-t", "ign:dev", "-f", filepath.Join(ctx, "dev.Dockerfile"), ctx)
	for ref, want := range map[string]string{"ign:plain": "a.txt\n", "ign:dev": "b.txt\n"} {
		if got := mustStrata(t, root, "run", "--rm", ref); got != want {
			t.Errorf("%s holds %q, want %q", ref, got, want)
		}
	}
}

// TestBuildAddGit: ADD of a git repository (served by git daemon on
// loopback) checks out REF:SUBDIR into the destination, without .git
// unless --keep-git-dir, and --checksum holds it to a commit.
func TestBuildAddGit(t *testing.T) {
	root := busyboxRoot(t, "")
	repo := bareRepository(t, map[string]string{"app/ctx.txt": "from git\n", "top.txt": "top\n"})
	addr := testutil.FreeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	daemon := exec.Command(testutil.Tool(t, "git"), "daemon", "--export-all", "--reuseaddr", "--base-path="+filepath.Dir(repo),
		"--listen="+host, "--port="+port, filepath.Dir(repo))
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	url := "git://" + addr + "/" + filepath.Base(repo)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nADD " + url + "#release:app /from-git/\n" +
		"ADD --keep-git-dir=true " + url + "#release /withgit/\n"})
	listening := func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !testutil.WaitFor(10*time.Second, listening) {
		t.Fatal("git daemon did not start")
	}
	mustBuild(t, root, "-t", "addgit:1", ctx)
	got := mustStrata(t, root, "run", "--rm", "addgit:1", "sh", "-c", "cat /from-git/ctx.txt /withgit/top.txt; ls -A /from-git; test -d /withgit/.git && echo has-git")
	if got != "from git\ntop\nctx.txt\nhas-git\n" {
		t.Errorf("addgit:1 holds %q", got)
	}
	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox:test\nADD --checksum=0000000 " + url + "#release /x/\n", "the repository is at commit"},
		{"FROM busybox:test\nCOPY " + url + " /x/\n", "source can't be a git repository for COPY"},
	} {
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tc.dockerfile), 0o644)
		if _, progress, code := buildOut(t, root, ctx); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%q: exit %d, want %q:\n%s", tc.dockerfile, code, tc.want, progress)
		}
	}
}
