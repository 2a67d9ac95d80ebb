package build

import (
	"bytes"
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
//
// Every read goes through fs, an os.Root: each path is first resolved
// symlink by symlink (resolve), and then opened beneath the root, so that
// neither a symlink nor one swapped in meanwhile leads out of it.
type tree struct {
	root    string   // absolute directory
	fs      *os.Root // the directory, opened: every read goes through it
	what    string   // for messages: "the build context", "stage build"
	ignore  *patternmatcher.PatternMatcher
	context bool // a build context: leaving it is an error
}

// openTree opens the file system at dir (a stage's or an image's, mounted)
// for COPY --from to read. Close it after.
func openTree(dir, what string) (*tree, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &tree{root: dir, fs: r, what: what}, nil
}

// Close closes the tree's root.
func (t *tree) Close() error { return t.fs.Close() }

// openContext opens the build context in dir with its .dockerignore, or
// with ignore's patterns when they are given (a Dockerfile's own
// NAME.dockerignore).
func openContext(dir string, ignore []byte) (*tree, error) {
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
	t, err := openTree(abs, "the build context")
	if err != nil {
		return nil, err
	}
	t.context = true
	if err := t.readIgnore(ignore); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// readIgnore reads the context's .dockerignore (which may be a symlink
// inside the context but not out of it), or the patterns given instead.
func (t *tree) readIgnore(given []byte) error {
	var r io.Reader = bytes.NewReader(given)
	if given == nil {
		rel, err := t.resolve(".dockerignore")
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
		f, err := t.fs.Open(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
		defer f.Close()
		r = f
	}
	patterns, err := ignorefile.ReadAll(r)
	if err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if t.ignore, err = patternmatcher.New(patterns); err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
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
// refused, and so is a path whose symlinks lead to a file that
// .dockerignore leaves out (it is not in the context); in a stage's file
// system they stay inside, as in a container.
func (t *tree) resolve(p string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "/"))
	if t.context && (clean == ".." || strings.HasPrefix(clean, "../")) {
		return "", fmt.Errorf("%s: forbidden path outside %s: %w", p, t.what, errdefs.ErrInvalidArgument)
	}
	return resolveIn(t.fs, p, !t.context, t.excluded)
}

// resolveIn walks p inside root, following symlinks; with inRoot, absolute
// links and ".." resolve inside root, else they are refused. A symlink met
// on the way whose target lies in what hidden says is left out is refused
// as missing (hidden may be nil).
func resolveIn(root *os.Root, p string, inRoot bool, hidden func(string) bool) (string, error) {
	rest := strings.Split(path.Clean("/"+filepath.ToSlash(p)), "/")[1:]
	var walked []string
	links := 0
	for len(rest) > 0 {
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
		name := strings.Join(cur, "/")
		fi, err := root.Lstat(name)
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
		if links > 0 && hidden != nil && hidden(name) {
			return "", hiddenError(p, name)
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
		}
		target, err := root.Readlink(name)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			if !inRoot {
				return "", fmt.Errorf("%s: the symlink %s points to %s, outside the build context: %w",
					p, name, target, errdefs.ErrInvalidArgument)
			}
			walked = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	if len(walked) == 0 {
		return ".", nil
	}
	final := strings.Join(walked, "/")
	if links > 0 && hidden != nil && hidden(final) {
		return "", hiddenError(p, final)
	}
	return final, nil
}

// hiddenError is a symlink that leads to what .dockerignore leaves out:
// not in the context, so not found, as BuildKit finds it.
func hiddenError(p, target string) error {
	return fmt.Errorf("%s: a symlink leads to %s, which .dockerignore leaves out of the build context: %w",
		p, target, errdefs.ErrNotFound)
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

// glob lists what the pattern matches in the tree, sorted: each part
// matched as path.Match does, what .dockerignore leaves out left out. A
// match is named as the pattern found it (name) and resolved, symlink by
// symlink, inside the tree (real): a symlink matched by a pattern is held
// to the same rules as one named plainly.
func (t *tree) glob(pattern string) ([]match, error) {
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(pattern), "/"))
	if _, err := path.Match(clean, ""); err != nil {
		return nil, fmt.Errorf("COPY pattern %q: %v: %w", pattern, err, errdefs.ErrInvalidArgument)
	}
	if t.context && (clean == ".." || strings.HasPrefix(clean, "../")) {
		return nil, fmt.Errorf("%s: forbidden path outside %s: %w", pattern, t.what, errdefs.ErrInvalidArgument)
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
	var out []match
	err := fs.WalkDir(t.fs.FS(), base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == base {
			return nil
		}
		rel := strings.TrimPrefix(p, base+"/")
		if base == "." {
			rel = p
		}
		name := path.Join(prefix, rel)
		depth := strings.Count(name, "/") + 1
		ok := matchPattern(clean, name)
		if ok && !t.excluded(p) {
			real := p
			if d.Type()&fs.ModeSymlink != 0 {
				if real, err = t.resolve(p); err != nil {
					return fmt.Errorf("%s matches %s: %w", pattern, name, err)
				}
			}
			out = append(out, match{name: name, real: real})
		}
		if d.IsDir() && (ok || depth >= len(parts) && !strings.Contains(clean, "**")) {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// match is a path a pattern matched: as named, and where it leads.
type match struct{ name, real string }

// matchPattern matches name against a COPY pattern: part by part as
// path.Match does, and where a part is "**", any number of parts (as
// BuildKit's include patterns read it, for COPY --parents).
func matchPattern(pattern, name string) bool {
	if !strings.Contains(pattern, "**") {
		ok, _ := path.Match(pattern, name)
		return ok
	}
	pm, err := patternmatcher.New([]string{pattern})
	if err != nil {
		return false
	}
	ok, err := pm.MatchesOrParentMatches(name)
	return ok && err == nil
}

// entry is one file that COPY copies: its path below the source (""
// for the source itself), its path in the tree, and what it is.
type entry struct {
	rel  string
	path string // in the tree: what open opens
	fs   *os.Root
	info fs.FileInfo
	link string // a symlink's target
}

// open opens the entry's file beneath its tree's root.
func (e entry) open() (*os.File, error) { return e.fs.Open(e.path) }

// walk lists the source at rel, a path resolve gave (a file, or a
// directory and everything below it that .dockerignore keeps; symlinks
// below it are copied as symlinks, not followed), and its hash:
// "file:HEX" or "dir:HEX", from the names, types, modes, sizes, link
// targets and contents (not owners or times: COPY sets the owner, and
// Docker's cache ignores times).
func (t *tree) walk(rel string, exclude *patternmatcher.PatternMatcher) ([]entry, string, error) {
	fi, err := t.fs.Lstat(rel)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rel, notFound(err))
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, "", fmt.Errorf("%s: not a regular file or a directory: %w", rel, errdefs.ErrInvalidArgument)
		}
		e := entry{path: rel, fs: t.fs, info: fi}
		h, err := entryHash(path.Base(rel), e)
		return []entry{e}, "file:" + h, err
	}
	var entries []entry
	var hashes []string
	err = fs.WalkDir(t.fs.FS(), rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sub := ""
		if p != rel {
			sub = strings.TrimPrefix(p, rel+"/")
			if rel == "." {
				sub = p
			}
			if t.excluded(p) {
				if d.IsDir() && !t.ignore.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
			if excludedBy(exclude, sub) {
				if d.IsDir() && !exclude.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{rel: sub, path: p, fs: t.fs, info: info}
		if info.Mode()&fs.ModeSymlink != 0 {
			if e.link, err = t.fs.Readlink(p); err != nil {
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

// excludedBy reports whether COPY --exclude's patterns leave rel out.
func excludedBy(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil {
		return false
	}
	ex, err := pm.MatchesOrParentMatches(rel)
	return err == nil && ex
}

// entryHash digests one entry under name.
func entryHash(name string, e entry) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "name=%s\x00mode=%o\x00size=%d\x00link=%s\x00", name, e.info.Mode(), e.info.Size(), e.link)
	if e.info.Mode().IsRegular() {
		f, err := e.open()
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
