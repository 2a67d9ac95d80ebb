package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// IsContextArchive reports whether head, the first bytes of standard
// input, starts a tar (plain, gzip, bzip2, xz or zstd) rather than a
// Dockerfile: `build -` then takes it as the build context, as docker
// does.
func IsContextArchive(head []byte) bool {
	for _, m := range [][]byte{magicGzip, magicBzip2, magicXz, magicZstd} {
		if hasPrefix(head, m) {
			return true
		}
	}
	return len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar"))
}

// GitContext is a build context in a git repository: URL#REF:SUBDIR, as
// docker reads it.
type GitContext struct {
	Remote string // a URL, or a local repository's path
	Ref    string // a branch, tag or commit; "" for the remote's HEAD
	Subdir string // the context's directory in the repository; "" for its root
}

// ParseGitContext reads a build context argument as a git repository, if
// it names one: git://, ssh://, git@HOST:..., an http(s) URL of a .git
// path, a URL with a #fragment, or a local repository (a directory with
// a git repository's HEAD and objects, plain or bare), with #REF:SUBDIR.
func ParseGitContext(arg string) (GitContext, bool) {
	remote, fragment, _ := strings.Cut(arg, "#")
	ref, subdir, _ := strings.Cut(fragment, ":")
	g := GitContext{Remote: remote, Ref: ref, Subdir: subdir}
	switch {
	case isGitSource(arg), strings.HasPrefix(remote, "git://"):
		return g, true
	case isURL(remote):
		return g, fragment != ""
	}
	if !isLocalRepository(remote) {
		return g, false
	}
	abs, err := filepath.Abs(remote) // git runs in the checkout's directory
	g.Remote = abs
	return g, err == nil
}

// isLocalRepository reports whether dir holds a git repository: bare (HEAD
// and objects/ in it) or with a .git directory.
func isLocalRepository(dir string) bool {
	for _, d := range []string{dir, filepath.Join(dir, ".git")} {
		if fi, err := os.Stat(filepath.Join(d, "objects")); err == nil && fi.IsDir() {
			if _, err := os.Stat(filepath.Join(d, "HEAD")); err == nil {
				return true
			}
		}
	}
	return false
}

// Fetch checks out the repository's ref (its HEAD without one) into dir,
// without its history, and returns the context's directory in it.
func (g GitContext) Fetch(ctx context.Context, dir string) (string, error) {
	p, _, err := g.checkout(ctx, dir, false)
	return p, err
}

// checkout is Fetch that keeps the .git directory when keepGit, and also
// returns the commit it checked out.
func (g GitContext) checkout(ctx context.Context, dir string, keepGit bool) (string, string, error) {
	ref := g.Ref
	if ref == "" {
		ref = "HEAD"
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir, "-c", "advice.detachedHead=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return "", "", fmt.Errorf("build context %s: a git repository needs git; install it: %w", g.Remote, errdefs.ErrNotFound)
	}
	for _, args := range [][]string{{"init", "-q"}, {"fetch", "-q", "--depth", "1", g.Remote, ref}, {"checkout", "-q", "FETCH_HEAD"}} {
		if err := git(args...); err != nil {
			return "", "", fmt.Errorf("build context %s#%s: %w", g.Remote, g.Ref, err)
		}
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", "", fmt.Errorf("build context %s#%s: git rev-parse: %w", g.Remote, g.Ref, err)
	}
	commit := strings.TrimSpace(string(out))
	if !keepGit {
		if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
			return "", "", err
		}
	}
	if c := path.Clean(g.Subdir); c == ".." || strings.HasPrefix(c, "../") || path.IsAbs(c) {
		return "", "", fmt.Errorf("build context %s: subdirectory %s: forbidden path outside the build context: %w", g.Remote, g.Subdir, errdefs.ErrInvalidArgument)
	}
	sub := path.Clean("/" + g.Subdir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", "", err
	}
	defer root.Close()
	rel, err := resolveIn(root, sub, false, nil)
	if err != nil {
		return "", "", fmt.Errorf("build context %s: subdirectory %s: %w", g.Remote, g.Subdir, err)
	}
	if fi, err := root.Stat(rel); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("build context %s#%s: %s is not a directory of the repository: %w", g.Remote, g.Ref, g.Subdir, errdefs.ErrNotFound)
	}
	return filepath.Join(dir, rel), commit, nil
}
