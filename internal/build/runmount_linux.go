package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
)

// stepMounts is what a RUN's --mount flags give its container: host
// directories and files bound at their targets, environment variables
// (a secret's env=, SSH_AUTH_SOCK), and what the cache key must see. Its
// release undoes what was set up, in reverse.
type stepMounts struct {
	volumes []runtime.Volume
	env     []string
	key     []string // the mounts as the cache key sees them: never a secret's value
	undo    []func()
}

func (sm *stepMounts) release() {
	for i := len(sm.undo) - 1; i >= 0; i-- {
		sm.undo[i]()
	}
}

// bind adds a bind mount of the host path src at target.
func (sm *stepMounts) bind(src, target string, ro bool) {
	sm.volumes = append(sm.volumes, runtime.Volume{Source: src, Target: target, ReadOnly: ro})
}

// scratch makes a directory only root enters, removed on release.
func (b *builder) scratch(sm *stepMounts, prefix string) (string, error) {
	dir, err := snapshot.TempDir(b.m.Snapshotter(), prefix)
	if err != nil {
		return "", err
	}
	sm.undo = append(sm.undo, func() { os.RemoveAll(dir) })
	return dir, nil
}

// runMounts sets up the mounts of c, a RUN in stage s, whose working
// directory relative targets are taken from.
func (b *builder) runMounts(ctx context.Context, s *state, c *instructions.RunCommand) (_ *stepMounts, err error) {
	sm := &stepMounts{}
	defer func() {
		if err != nil {
			sm.release()
		}
	}()
	for i, m := range instructions.GetMounts(c) {
		if m.Target != "" && !path.IsAbs(m.Target) {
			m.Target = path.Join("/", s.cfg.Config.WorkingDir, m.Target)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			err = b.cacheMount(ctx, sm, m)
		case instructions.MountTypeTmpfs:
			err = b.tmpfsMount(sm, m)
		case instructions.MountTypeBind:
			err = b.bindMount(ctx, sm, m)
		case instructions.MountTypeSecret:
			err = b.secretMount(sm, m)
		case instructions.MountTypeSSH:
			err = b.sshMount(sm, m, i)
		default:
			err = fmt.Errorf("unknown mount type %q: %w", m.Type, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return nil, fmt.Errorf("RUN --mount=type=%s: %w", m.Type, err)
		}
	}
	return sm, nil
}

func needTarget(m *instructions.Mount) error {
	if m.Target == "" {
		return fmt.Errorf("a target is needed (target=/path): %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// cacheMountsDir is where the store keeps RUN --mount=type=cache
// directories, one per id, across builds until `builder prune`.
func CacheMountsDir(storeRoot string) string { return filepath.Join(storeRoot, "build-cache-mounts") }

// cacheMount binds the cache directory of m's id (its target by
// default). Sharing "locked" waits for other builds using it; "private"
// takes a fresh directory while another build holds it; "shared" (the
// default) lets builds use it at once.
func (b *builder) cacheMount(ctx context.Context, sm *stepMounts, m *instructions.Mount) error {
	if err := needTarget(m); err != nil {
		return err
	}
	if m.Source != "" && m.From == "" {
		return fmt.Errorf("source=%s goes with from= (what seeds the cache): %w", m.Source, errdefs.ErrInvalidArgument)
	}
	id := m.CacheID
	if id == "" {
		id = m.Target
	}
	sum := sha256.Sum256([]byte(id))
	base := CacheMountsDir(b.st.Root())
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	dir := filepath.Join(base, hex.EncodeToString(sum[:16]))
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	sm.undo = append(sm.undo, func() { lock.Close() })
	now := time.Now()
	os.Chtimes(dir+".lock", now, now) // last used: what builder prune --filter until= reads
	switch m.CacheSharing {
	case instructions.MountSharingLocked:
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	case instructions.MountSharingPrivate:
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			dir, err = b.scratch(sm, "cache-")
		}
	default:
		err = unix.Flock(int(lock.Fd()), unix.LOCK_SH)
	}
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err == nil {
		if err := b.seedCache(ctx, dir, m); err != nil {
			os.RemoveAll(dir)
			return err
		}
		if err := ownAndMode(dir, m, 0o755); err != nil {
			return err
		}
	} else if !os.IsExist(err) {
		return err
	}
	sm.bind(dir, m.Target, m.ReadOnly)
	sm.key = append(sm.key, fmt.Sprintf("cache id=%s target=%s ro=%v", id, m.Target, m.ReadOnly))
	return nil
}

// seedCache fills a new cache directory from what from= and source= name
// (a stage or an image, a directory of it), as BuildKit bases a cache on it.
func (b *builder) seedCache(ctx context.Context, dir string, m *instructions.Mount) error {
	if m.From == "" {
		return nil
	}
	diffIDs, err := b.sourceLayers(ctx, m.From)
	if err != nil {
		return fmt.Errorf("from=%s: %w", m.From, err)
	}
	src := m.Source
	if src == "" {
		src = "/"
	}
	return b.m.View(ctx, diffIDs, func(root string) error {
		t, err := openTree(root, "from="+m.From)
		if err != nil {
			return err
		}
		defer t.Close()
		srcs, err := resolveSource(t, src, &copyCmd{instr: "RUN --mount"})
		if err != nil {
			return err
		}
		if len(srcs) != 1 || !srcs[0].dir {
			return fmt.Errorf("from=%s source=%s: a cache is seeded from a directory: %w", m.From, src, errdefs.ErrInvalidArgument)
		}
		return applyCopy(ctx, dir, &copySpec{dest: "/", destDir: true, sources: srcs})
	})
}

// ownAndMode sets p's mode and owner from the mount's mode, uid and gid.
func ownAndMode(p string, m *instructions.Mount, mode os.FileMode) error {
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// tmpfsMount binds a fresh tmpfs (size= bytes, if given) at the target.
func (b *builder) tmpfsMount(sm *stepMounts, m *instructions.Mount) error {
	if err := needTarget(m); err != nil {
		return err
	}
	dir, err := b.scratch(sm, "tmpfs-")
	if err != nil {
		return err
	}
	opts := []string{"mode=1777"}
	if m.SizeLimit > 0 {
		opts = append(opts, "size="+strconv.FormatInt(m.SizeLimit, 10))
	}
	// In a directory only root enters (snapshot.TempDir), nosuid and nodev,
	// as every mount strata makes.
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, strings.Join(opts, ",")); err != nil {
		return fmt.Errorf("mount a tmpfs: %w", err)
	}
	sm.undo = append(sm.undo, func() { snapshot.Unmount(dir) })
	sm.bind(dir, m.Target, false)
	sm.key = append(sm.key, fmt.Sprintf("tmpfs target=%s size=%d", m.Target, m.SizeLimit))
	return nil
}

// secretMount gives the step a secret of --secret: as a file (0400 by
// default, at /run/secrets/ID unless target= says), or with env= as an
// environment variable. Neither the value nor the file ever reaches a
// layer, the cache key or the history. A secret that was not given is
// skipped, unless required=true.
func (b *builder) secretMount(sm *stepMounts, m *instructions.Mount) error {
	id := m.CacheID
	if id == "" {
		id = path.Base(m.Target)
	}
	value, ok, err := b.o.Secrets.value(id)
	if err != nil {
		return err
	}
	if !ok {
		if m.Required {
			return fmt.Errorf("secret %s is required: give it with --secret id=%s,src=FILE (or env=VAR): %w", id, id, errdefs.ErrNotFound)
		}
		return nil
	}
	sm.key = append(sm.key, fmt.Sprintf("secret id=%s target=%s", id, m.Target))
	if m.Env != nil && *m.Env != "" {
		sm.env = append(sm.env, *m.Env+"="+string(value))
		if m.Target == "" {
			return nil
		}
	}
	target := m.Target
	if target == "" {
		target = "/run/secrets/" + id
	}
	dir, err := b.scratch(sm, "secret-")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, value, 0o400); err != nil {
		return err
	}
	if err := ownAndMode(p, m, 0o400); err != nil {
		return err
	}
	sm.bind(p, target, true)
	return nil
}

// sshMount forwards an SSH agent of --ssh to the step: its socket at the
// target (/run/buildkit/ssh_agent.N by default), and SSH_AUTH_SOCK set to
// it. An agent that was not given is skipped, unless required=true.
func (b *builder) sshMount(sm *stepMounts, m *instructions.Mount, n int) error {
	id := m.CacheID
	if id == "" {
		id = "default"
	}
	sock, ok := b.o.SSH[id]
	if !ok {
		if m.Required {
			return fmt.Errorf("ssh agent %s is required: give it with --ssh %s=SOCKET (or --ssh default with SSH_AUTH_SOCK set): %w", id, id, errdefs.ErrNotFound)
		}
		return nil
	}
	fi, err := os.Stat(sock)
	if err != nil {
		return fmt.Errorf("--ssh %s=%s: %w", id, sock, notFound(err))
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("--ssh %s=%s: not an agent's socket: %w", id, sock, errdefs.ErrInvalidArgument)
	}
	target := m.Target
	if target == "" {
		target = "/run/buildkit/ssh_agent." + strconv.Itoa(n)
	}
	sm.bind(sock, target, false)
	sm.env = append(sm.env, "SSH_AUTH_SOCK="+target)
	sm.key = append(sm.key, fmt.Sprintf("ssh id=%s target=%s", id, target))
	return nil
}

// bindMount binds a source at the target, read-only unless rw: from the
// build context (a copy of what .dockerignore keeps, resolved as COPY
// resolves it, so the step sees no more of the host than COPY would), or
// from a stage or an image (its layers mounted; with rw on a throwaway
// writable snapshot).
func (b *builder) bindMount(ctx context.Context, sm *stepMounts, m *instructions.Mount) error {
	if err := needTarget(m); err != nil {
		return err
	}
	src := m.Source
	if src == "" {
		src = "."
	}
	if m.From == "" {
		if b.context == nil {
			return fmt.Errorf("there is no build context to bind: %w", errdefs.ErrInvalidArgument)
		}
		dir, err := b.scratch(sm, "bind-")
		if err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o755); err != nil { // as the context's root; its parent stays root's alone
			return err
		}
		srcs, err := resolveSource(b.context, src, &copyCmd{instr: "RUN --mount"})
		if err != nil {
			return err
		}
		if err := applyCopy(ctx, dir, &copySpec{dest: "/", destDir: true, sources: srcs}); err != nil {
			return err
		}
		host := dir
		if len(srcs) == 1 && !srcs[0].dir {
			host = filepath.Join(dir, srcs[0].name)
		}
		sm.bind(host, m.Target, m.ReadOnly)
		return nil
	}
	diffIDs, err := b.sourceLayers(ctx, m.From)
	if err != nil {
		return fmt.Errorf("from=%s: %w", m.From, err)
	}
	root, err := b.mountLayers(ctx, sm, diffIDs, !m.ReadOnly)
	if err != nil {
		return err
	}
	fsys, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer fsys.Close()
	rel, err := resolveIn(fsys, src, true, nil)
	if err != nil {
		return err
	}
	if _, err := fsys.Lstat(rel); err != nil {
		return fmt.Errorf("source=%s in from=%s: %w", m.Source, m.From, notFound(err))
	}
	sm.bind(filepath.Join(root, rel), m.Target, m.ReadOnly)
	return nil
}

// mountLayers mounts the layers diffIDs until release: a read-only view,
// or with writable a snapshot whose changes are thrown away.
func (b *builder) mountLayers(ctx context.Context, sm *stepMounts, diffIDs []digest.Digest, writable bool) (string, error) {
	dir, err := b.scratch(sm, "from-")
	if err != nil {
		return "", err
	}
	chain, err := b.m.UnpackLayers(ctx, diffIDs)
	if err != nil || chain == "" && !writable {
		return dir, err
	}
	sn := b.m.Snapshotter()
	key := "build-mount-" + filepath.Base(dir)
	prepare := sn.View
	if writable {
		prepare = sn.Prepare
	}
	mounts, err := prepare(ctx, key, chain, nil)
	if err != nil {
		return "", err
	}
	sm.undo = append(sm.undo, func() { sn.Remove(context.WithoutCancel(ctx), key) })
	if err := snapshot.MountPrivate(mounts, dir); err != nil {
		return "", err
	}
	sm.undo = append(sm.undo, func() { snapshot.Unmount(dir) })
	return dir, nil
}

// mountsKey is what a RUN's mounts add to its cache key: each mount's
// kind and place, and for a bind, the hash of what it binds (never a
// secret's value, nor a cache's contents, as in BuildKit).
func (b *builder) mountsKey(ctx context.Context, c *instructions.RunCommand) ([]string, error) {
	var key []string
	for _, m := range instructions.GetMounts(c) {
		k := fmt.Sprintf("%s from=%s source=%s target=%s id=%s ro=%v size=%d sharing=%s env=%v",
			m.Type, m.From, m.Source, m.Target, m.CacheID, m.ReadOnly, m.SizeLimit, m.CacheSharing, m.Env != nil)
		for _, n := range []*uint64{m.Mode, m.UID, m.GID} {
			if n != nil {
				k += fmt.Sprintf(" %d", *n)
			}
		}
		if m.Type == instructions.MountTypeBind {
			h, err := b.bindKey(ctx, m)
			if err != nil {
				return nil, fmt.Errorf("RUN --mount=type=bind: %w", err)
			}
			k += " " + h
		}
		key = append(key, k)
	}
	return key, nil
}

// bindKey is the identity of what a bind mount binds: the hash of its
// source in the context, or the chain of the stage or image.
func (b *builder) bindKey(ctx context.Context, m *instructions.Mount) (string, error) {
	if m.From != "" {
		diffIDs, err := b.sourceLayers(ctx, m.From)
		if err != nil {
			return "", fmt.Errorf("from=%s: %w", m.From, err)
		}
		return image.ChainID(diffIDs).String(), nil
	}
	if b.context == nil {
		return "", fmt.Errorf("there is no build context to bind: %w", errdefs.ErrInvalidArgument)
	}
	src := m.Source
	if src == "" {
		src = "."
	}
	srcs, err := resolveSource(b.context, src, &copyCmd{instr: "RUN --mount"})
	if err != nil {
		return "", err
	}
	var hashes []string
	for _, s := range srcs {
		hashes = append(hashes, s.name+"="+s.hash)
	}
	return strings.Join(hashes, ","), nil
}

// PruneCacheMounts removes the RUN --mount=type=cache directories of the
// store at root not used since before (all of them for a zero time), and
// returns the bytes they took. A cache a build is using is left alone.
func PruneCacheMounts(root string, before time.Time) (int64, error) {
	base := CacheMountsDir(root)
	entries, err := os.ReadDir(base)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return freed, err
		}
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			lock.Close()
			continue // in use
		}
		if fi, err := lock.Stat(); err == nil && (before.IsZero() || fi.ModTime().Before(before)) {
			freed += dirSize(dir)
			err = os.RemoveAll(dir)
			os.Remove(dir + ".lock")
		}
		lock.Close()
		if err != nil {
			return freed, err
		}
	}
	return freed, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
