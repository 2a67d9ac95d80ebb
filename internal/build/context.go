package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/strata-dev/strata/internal/errdefs"
)

// tree is where COPY and ADD read files: the build context, whose
// .dockerignore leaves some out and out of which no path may lead, or the
// file system of a stage or an image (COPY --from), where symlinks resolve
// inside it as the container would see them.
type tree struct {
	root    string // absolute directory
	what    string // for messages: "the build context", "stage build"
	ignore  *patternmatcher.PatternMatcher
	context bool // a build context: leaving it is an error
}

// openContext opens the build context in dir with its .dockerignore.
func openContext(dir string) (*tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", notFound(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory: %w", dir, errdefs.ErrInvalidArgument)
	}
	t := &tree{root: abs, what: "the build context", context: true}
	f, err := os.Open(filepath.Join(abs, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if t.ignore, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return t, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%v: %w", err, errdefs.ErrNotFound)
	}
	return err
}

// excluded reports whether .dockerignore leaves rel out.
func (t *tree) excluded(rel string) bool {
	if t.ignore == nil || rel == "." || rel == "" {
		return false
	}
	ex, err := t.ignore.MatchesOrParentMatches(rel)
	return err == nil && ex
}

// resolve finds where p (relative to the tree's root, or absolute from
// it) leads, following symlinks: the path relative to root, with no symlink
// left among the parts that exist. In a build context a path that climbs
// out (".."), or a symlink that points out of it or anywhere absolute, is
// refused; in a stage's file system they stay inside, as in a container.
func (t *tree) resolve(p string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "/"))
	if t.context && (clean == ".." || strings.HasPrefix(clean, "../")) {
		return "", fmt.Errorf("%s: forbidden path outside %s: %w", p, t.what, errdefs.ErrInvalidArgument)
	}
	return resolveIn(t.root, p, !t.context)
}

// resolveIn walks p inside root, following symlinks; with inRoot, absolute
// links and ".." resolve inside root, else they are refused.
func resolveIn(root, p string, inRoot bool) (string, error) {
	rest := strings.Split(path.Clean("/"+filepath.ToSlash(p)), "/")[1:]
	var walked []string
	for links := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(walked) == 0 {
				if !inRoot {
					return "", escapeError(p)
				}
				continue
			}
			walked = walked[:len(walked)-1]
			continue
		}
		cur := append(append([]string{}, walked...), part)
		fi, err := os.Lstat(filepath.Join(root, filepath.Join(cur...)))
		if errors.Is(err, fs.ErrNotExist) {
			walked = append(cur, rest...)
			break
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			walked = cur
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
		}
		target, err := os.Readlink(filepath.Join(root, filepath.Join(cur...)))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			if !inRoot {
				return "", fmt.Errorf("%s: the symlink %s points to %s, outside the build context: %w",
					p, strings.Join(cur, "/"), target, errdefs.ErrInvalidArgument)
			}
			walked = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	if len(walked) == 0 {
		return ".", nil
	}
	return strings.Join(walked, "/"), nil
}

func escapeError(p string) error {
	return fmt.Errorf("%s: forbidden path outside the build context (through a symlink): %w", p, errdefs.ErrInvalidArgument)
}

// hasWildcards reports whether p is a pattern, as COPY reads it.
func hasWildcards(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// glob lists what the pattern matches in the tree, as paths relative to
// its root, sorted: each part matched as path.Match does, what
// .dockerignore leaves out left out.
func (t *tree) glob(pattern string) ([]string, error) {
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(pattern), "/"))
	if _, err := path.Match(clean, ""); err != nil {
		return nil, fmt.Errorf("COPY pattern %q: %v: %w", pattern, err, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(clean, "/")
	fixed := 0
	for fixed < len(parts) && !hasWildcards(parts[fixed]) {
		fixed++
	}
	base := "."
	if fixed > 0 {
		var err error
		if base, err = t.resolve(strings.Join(parts[:fixed], "/")); err != nil {
			return nil, err
		}
	}
	prefix := strings.Join(parts[:fixed], "/")
	var out []string
	err := filepath.WalkDir(filepath.Join(t.root, base), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(t.root, base), p)
		if rel == "." {
			return nil
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		depth := strings.Count(name, "/") + 1
		ok, _ := path.Match(clean, name)
		real := path.Join(base, filepath.ToSlash(rel))
		if ok && !t.excluded(real) {
			out = append(out, real)
		}
		if d.IsDir() && (ok || depth >= len(parts)) {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// entry is one file that COPY copies: its path below the source (""
// for the source itself) and what it is.
type entry struct {
	rel  string
	abs  string
	info fs.FileInfo
	link string // a symlink's target
}

// walk lists the source at rel (a file, or a directory and everything
// below it that .dockerignore keeps), and its hash: "file:HEX" or
// "dir:HEX", from the names, types, modes, sizes, link targets and contents
// (not owners or times: COPY sets the owner, and Docker's cache ignores
// times).
func (t *tree) walk(rel string) ([]entry, string, error) {
	abs := filepath.Join(t.root, rel)
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rel, notFound(err))
	}
	if !fi.IsDir() {
		e := entry{abs: abs, info: fi}
		h, err := entryHash(path.Base(rel), e)
		return []entry{e}, "file:" + h, err
	}
	var entries []entry
	var hashes []string
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sub, _ := filepath.Rel(abs, p)
		sub = filepath.ToSlash(sub)
		if sub == "." {
			sub = ""
		} else if t.excluded(path.Join(rel, sub)) {
			if d.IsDir() && !t.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{rel: sub, abs: p, info: info}
		if info.Mode()&fs.ModeSymlink != 0 {
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if info.Mode()&fs.ModeSocket != 0 {
			return nil // sockets do not go into images
		}
		h, err := entryHash(sub, e)
		if err != nil {
			return err
		}
		entries, hashes = append(entries, e), append(hashes, h)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Strings(hashes)
	return entries, hashStrings("dir", hashes), nil
}

// entryHash digests one entry under name.
func entryHash(name string, e entry) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "name=%s\x00mode=%o\x00size=%d\x00link=%s\x00", name, e.info.Mode(), e.info.Size(), e.link)
	if e.info.Mode().IsRegular() {
		f, err := os.Open(e.abs)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
