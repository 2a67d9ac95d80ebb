package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// copyCmd is a COPY or ADD, expanded.
type copyCmd struct {
	instr    string // "COPY" or "ADD"
	text     string
	srcs     []string
	contents []instructions.SourceContent
	dest     string
	from     string
	chown    string
	chmod    string
	checksum string   // ADD --checksum
	exclude  []string // --exclude
	parents  bool     // COPY --parents
	unpack   *bool    // ADD --unpack
	keepGit  *bool    // ADD --keep-git-dir
	link     bool     // --link
	add      bool
}

func copyCommand(c *instructions.CopyCommand) copyCmd {
	return copyCmd{instr: "COPY", text: c.String(), srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		from: c.From, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, parents: c.Parents, link: c.Link}
}

func addCommand(c *instructions.AddCommand) copyCmd {
	return copyCmd{instr: "ADD", text: c.String(), srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		chown: c.Chown, chmod: c.Chmod, checksum: c.Checksum, exclude: c.ExcludePatterns, unpack: c.Unpack, keepGit: c.KeepGitDir, link: c.Link, add: true}
}

// copy runs COPY or ADD: from the build context, or with --from from a
// stage or an image, whose files are mounted to read.
func (b *builder) copy(ctx context.Context, s *state, c copyCmd) error {
	if c.from == "" {
		return b.copyFrom(ctx, s, c, b.context)
	}
	diffIDs, err := b.sourceLayers(ctx, c.from)
	if err != nil {
		return fmt.Errorf("%s --from=%s: %w", c.instr, c.from, err)
	}
	return b.m.View(ctx, diffIDs, func(root string) error {
		t, err := openTree(root, "--from="+c.from)
		if err != nil {
			return err
		}
		defer t.Close()
		return b.copyFrom(ctx, s, c, t)
	})
}

// sourceLayers are the layers of what --from names: a stage built
// before, else an image (pulled if the store lacks it).
func (b *builder) sourceLayers(ctx context.Context, from string) ([]digest.Digest, error) {
	if j := b.df.stageIndex(from, len(b.df.stages)); j >= 0 && b.stages[j] != nil {
		return b.stages[j].diffIDs(), nil
	}
	p, explicit := b.o.Platform, b.o.Platform.OS != ""
	if !explicit {
		p = image.DefaultPlatform()
	}
	img, err := b.baseImage(ctx, from, p, explicit)
	if err != nil {
		return nil, err
	}
	layers, err := b.baseLayers(ctx, img)
	if err != nil {
		return nil, err
	}
	var diffIDs []digest.Digest
	for _, l := range layers {
		diffIDs = append(diffIDs, l.DiffID)
	}
	return diffIDs, nil
}

// copyFrom runs COPY or ADD reading from t.
func (b *builder) copyFrom(ctx context.Context, s *state, c copyCmd, t *tree) error {
	spec, err := b.resolveCopy(ctx, s, c, t)
	if err != nil {
		return err
	}
	defer spec.close()
	var hashes, names []string
	for _, src := range spec.sources {
		hashes, names = append(hashes, src.hash), append(names, src.name)
	}
	history := copyHistory(s.cfg.Config, c.instr, c.chown, hashes, spec.historyDest)
	key := b.key(s, c.instr, history, c.chmod, spec.dest, strings.Join(names, "\x00"))
	return b.do(ctx, s, c.text, key, func(int) (change, error) {
		diff, err := b.m.Change(ctx, s.diffIDs(), func(root string) error { return applyCopy(ctx, root, &spec.copySpec) })
		return change{history: history, diff: diff}, err
	})
}

// applyCopy writes the copy into root through archive.Apply, which
// refuses any entry that would land outside it.
func applyCopy(ctx context.Context, root string, c *copySpec) error {
	pr, pw := io.Pipe()
	entries := make(chan int, 1)
	go func() {
		n, err := writeCopy(pw, root, c)
		entries <- n
		pw.CloseWithError(err)
	}()
	err := archive.Apply(ctx, root, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if n := <-entries; n == 0 && err != nil && errdefs.IsInvalidArgument(err) {
		return nil // nothing to copy (an empty directory into one that exists)
	}
	return err
}

// resolvedCopy is a COPY or ADD with its sources found and hashed.
type resolvedCopy struct {
	copySpec
	historyDest string   // the destination as Docker's history shows it
	cleanup     []func() // what close undoes: checkouts of ADD's repositories
}

// close discards what the copy downloaded and checked out.
func (r *resolvedCopy) close() {
	for _, s := range r.sources {
		if s.download != nil {
			s.download.file.Close()
		}
	}
	for _, f := range r.cleanup {
		f()
	}
}

// gitSource checks out the repository ADD names (URL#REF:SUBDIR) into a
// directory of the store's, checks --checksum against the commit, and
// returns the checkout (without .git unless --keep-git-dir) as a source
// that copies like a directory of the context.
func (b *builder) gitSource(ctx context.Context, r *resolvedCopy, p string, c *copyCmd) ([]copySource, error) {
	g, _ := ParseGitContext(p)
	dir, err := os.MkdirTemp(b.st.Root(), "git-")
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, func() { os.RemoveAll(dir) })
	sub, commit, err := g.checkout(ctx, dir, c.keepGit != nil && *c.keepGit)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", p, err)
	}
	if c.checksum != "" && !strings.HasPrefix(commit, c.checksum) {
		return nil, fmt.Errorf("ADD --checksum=%s %s: the repository is at commit %s: %w", c.checksum, p, commit, errdefs.ErrInvalidArgument)
	}
	t, err := openTree(sub, "the repository "+g.Remote)
	if err != nil {
		return nil, err
	}
	t.context = true // a symlink in it may not lead out of it
	r.cleanup = append(r.cleanup, func() { t.Close() })
	return resolveSource(t, ".", &copyCmd{instr: c.instr, exclude: c.exclude})
}

// resolveCopy finds what c copies and where it goes.
func (b *builder) resolveCopy(ctx context.Context, s *state, c copyCmd, t *tree) (_ *resolvedCopy, err error) {
	dest := c.dest
	if !path.IsAbs(dest) {
		dest = path.Join("/", s.cfg.Config.WorkingDir, dest)
		if strings.HasSuffix(c.dest, "/") {
			dest += "/"
		}
	}
	if c.link && c.chown != "" && chownByName(c.chown) {
		return nil, fmt.Errorf("%s --link --chown=%s: user and group names cannot be resolved with --link; give numeric ids, uid[:gid]: %w",
			c.instr, c.chown, errdefs.ErrInvalidArgument)
	}
	r := &resolvedCopy{copySpec: copySpec{dest: dest, chown: c.chown, chmod: c.chmod}, historyDest: c.dest}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	wild := false
	for _, p := range c.srcs {
		if isGitSource(p) {
			if !c.add {
				return nil, fmt.Errorf("COPY %s: source can't be a git repository for COPY; ADD clones one: %w", p, errdefs.ErrInvalidArgument)
			}
			srcs, err := b.gitSource(ctx, r, p, &c)
			if err != nil {
				return nil, err
			}
			r.sources = append(r.sources, srcs...)
			continue
		}
		if c.add && isURL(p) {
			d, err := fetch(ctx, p, b.st.Root(), b.o.maxDownload(), c.checksum)
			if err != nil {
				return nil, err
			}
			src := copySource{name: d.name, download: d, mode: 0o600, mtime: d.mtime, hash: d.hash()}
			src.unpack = c.unpacks(true) && isArchive(src)
			r.sources = append(r.sources, src)
			continue
		}
		if c.checksum != "" {
			return nil, fmt.Errorf("ADD --checksum=%s %s: a checksum goes with an http(s) URL or a git repository only: %w", c.checksum, p, errdefs.ErrInvalidArgument)
		}
		if t == nil {
			return nil, fmt.Errorf("%s %s: there is no build context (the Dockerfile came on standard input): give a directory: %w",
				c.instr, p, errdefs.ErrInvalidArgument)
		}
		srcs, err := resolveSource(t, p, &c)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.instr, p, err)
		}
		wild = wild || hasWildcards(p)
		r.sources = append(r.sources, srcs...)
	}
	for _, sc := range c.contents {
		h := sha256.Sum256([]byte(sc.Path + "\x00" + sc.Data))
		r.sources = append(r.sources, copySource{name: sc.Path, data: []byte(sc.Data), mode: 0o644, mtime: time.Now(),
			hash: "file:" + hex.EncodeToString(h[:])})
	}
	if len(r.sources) > 1 && !strings.HasSuffix(c.dest, "/") {
		return nil, fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /: %w",
			c.instr, errdefs.ErrInvalidArgument)
	}
	r.destDir = strings.HasSuffix(c.dest, "/") || c.dest == "." || strings.HasSuffix(c.dest, "/.") || wild
	for _, src := range r.sources {
		if src.name == "" && src.download != nil && !src.unpack && r.destDir {
			return nil, fmt.Errorf("%s: cannot tell a file name from the URL: name the destination file: %w", c.instr, errdefs.ErrInvalidArgument)
		}
	}
	return r, nil
}

// resolveSource finds the sources that p (a path or a pattern) means in
// t, each named as it goes to the destination: its base name, or with
// --parents its path (after a "/./" pivot, if p has one).
func resolveSource(t *tree, p string, c *copyCmd) ([]copySource, error) {
	exclude, err := c.excludes()
	if err != nil {
		return nil, err
	}
	pivot := ""
	if c.parents {
		if before, _, ok := strings.Cut(p, "/./"); ok {
			pivot = path.Clean(strings.TrimPrefix(before, "/"))
		}
	}
	var matches []match
	if hasWildcards(p) {
		if matches, err = t.glob(p); err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no source files were specified (nothing in %s matches): %w", t.what, errdefs.ErrNotFound)
		}
	} else {
		rel, err := t.resolve(p)
		if err != nil {
			return nil, err
		}
		named := path.Clean(strings.TrimPrefix(p, "/"))
		if t.excluded(rel) || t.excluded(named) {
			return nil, fmt.Errorf("file not found in %s or excluded by .dockerignore: %w", t.what, errdefs.ErrNotFound)
		}
		matches = []match{{name: named, real: rel}}
	}
	var out []copySource
	for _, m := range matches {
		entries, hash, err := t.walk(m.real, exclude)
		if err != nil {
			return nil, fmt.Errorf("file not found in %s: %w", t.what, err)
		}
		name := path.Base(path.Clean("/" + m.name))
		if c.parents {
			name = strings.TrimPrefix(path.Clean("/"+m.name), "/")
			if pivot != "" && pivot != "." {
				name = strings.TrimPrefix(name, pivot+"/")
			}
		}
		src := copySource{name: name, entries: entries, dir: entries[0].info.IsDir(), hash: hash, parents: c.parents}
		src.unpack = c.unpacks(false) && !src.dir && entries[0].info.Mode().IsRegular() && isArchive(src)
		out = append(out, src)
	}
	return out, nil
}

// isGitSource reports whether p names a git repository, as BuildKit tells
// them: git@host:..., git:// or ssh://, or an http(s) URL of a .git
// path (with a #fragment perhaps).
func isGitSource(p string) bool {
	if strings.HasPrefix(p, "git@") || strings.HasPrefix(p, "git://") || strings.HasPrefix(p, "ssh://") {
		return true
	}
	u, _, _ := strings.Cut(p, "#")
	return isURL(p) && strings.HasSuffix(u, ".git")
}

// chownByName reports whether --chown names a user or group rather than
// numbers.
func chownByName(chown string) bool {
	u, g, _ := strings.Cut(chown, ":")
	for _, id := range []string{u, g} {
		if _, err := strconv.Atoi(id); id != "" && err != nil {
			return true
		}
	}
	return false
}

// unpacks says whether ADD unpacks an archive: a local one unless
// --unpack=false, a downloaded one only with --unpack=true.
func (c *copyCmd) unpacks(remote bool) bool {
	if !c.add {
		return false
	}
	if c.unpack != nil {
		return *c.unpack
	}
	return !remote
}

// excludes is COPY --exclude's patterns, matched as .dockerignore's are
// against the paths below each source.
func (c *copyCmd) excludes() (*patternmatcher.PatternMatcher, error) {
	if len(c.exclude) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(c.exclude)
	if err != nil {
		return nil, fmt.Errorf("%s --exclude: %v: %w", c.instr, err, errdefs.ErrInvalidArgument)
	}
	return pm, nil
}
