package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// driver is what the two implementations do differently: how an active
// snapshot's files begin, and how a snapshot is mounted.
type driver interface {
	name() string
	// create fills dir, a new snapshot's directory, for kind on parents
	// (the parents' directories, nearest first).
	create(dir string, kind Kind, parents []string) error
	// mounts says how to mount the snapshot in dir on parents.
	mounts(dir string, kind Kind, parents []string) []Mount
}

// snapshotter is the index of snapshots (see the package doc for its
// layout) around a driver.
type snapshotter struct {
	root string
	drv  driver
}

// record is a snapshot's info.json.
type record struct {
	ID      string            `json:"-"`
	Name    string            `json:"name"`
	Parent  string            `json:"parent,omitempty"`
	Parents []string          `json:"parents,omitempty"` // IDs of the parent chain, nearest first
	Kind    Kind              `json:"kind"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

func (r record) info() Info {
	return Info{Name: r.Name, Parent: r.Parent, Kind: r.Kind, Created: r.Created, Labels: r.Labels}
}

func newSnapshotter(root string, drv driver) (*snapshotter, error) {
	for _, d := range []string{"ids", "names"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
	}
	markTopDir(filepath.Join(root, "ids"))
	return &snapshotter{root: root, drv: drv}, nil
}

func (s *snapshotter) Name() string { return s.drv.name() }

func (s *snapshotter) Root() string { return s.root }

func (s *snapshotter) dir(id string) string { return filepath.Join(s.root, "ids", id) }

func (s *snapshotter) nameLink(name string) string {
	h := sha256.Sum256([]byte(name))
	return filepath.Join(s.root, "names", hex.EncodeToString(h[:]))
}

// lock holds the index's lock until the returned function is called.
func (s *snapshotter) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock snapshots: %w", err)
	}
	return func() { f.Close() }, nil
}

// get reads the record of name.
func (s *snapshotter) get(name string) (record, error) {
	target, err := os.Readlink(s.nameLink(name))
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, fmt.Errorf("snapshot %q: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return record{}, err
	}
	return s.read(filepath.Base(target))
}

func (s *snapshotter) read(id string) (record, error) {
	b, err := os.ReadFile(filepath.Join(s.dir(id), "info.json"))
	if err != nil {
		return record{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("snapshot %s: info.json: %w", id, err)
	}
	r.ID = id
	return r, nil
}

// write saves r's info.json atomically.
func (s *snapshotter) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := filepath.Join(s.dir(r.ID), "info.json")
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// link points name at the snapshot id, atomically.
func (s *snapshotter) link(name, id string) error {
	p := s.nameLink(name)
	tmp := p + ".tmp" + id
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("..", "ids", id), tmp); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (s *snapshotter) parentDirs(r record) []string {
	dirs := make([]string, len(r.Parents))
	for i, id := range r.Parents {
		dirs[i] = s.dir(id)
	}
	return dirs
}

func (s *snapshotter) Stat(ctx context.Context, key string) (Info, error) {
	r, err := s.get(key)
	if err != nil {
		return Info{}, err
	}
	return r.info(), nil
}

func (s *snapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return s.create(ctx, KindActive, key, parent, labels)
}

func (s *snapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return s.create(ctx, KindView, key, parent, labels)
}

func (s *snapshotter) create(ctx context.Context, kind Kind, key, parent string, labels map[string]string) ([]Mount, error) {
	r, err := s.add(kind, key, parent, labels)
	if err != nil {
		return nil, err
	}
	return s.mounts(r), nil
}

// mounts are how to mount the snapshot r: its driver's, made volatile for
// a snapshot labelled so (see LabelVolatile).
func (s *snapshotter) mounts(r record) []Mount {
	mounts := s.drv.mounts(s.dir(r.ID), r.Kind, s.parentDirs(r))
	if r.Kind != KindActive || r.Labels[LabelVolatile] == "" {
		return mounts
	}
	for i, m := range mounts {
		if m.Type == "overlay" {
			mounts[i].Options = append(m.Options, "volatile")
		}
	}
	return mounts
}

// add makes the snapshot key of kind on parent.
func (s *snapshotter) add(kind Kind, key, parent string, labels map[string]string) (record, error) {
	if key == "" {
		return record{}, fmt.Errorf("snapshot key is empty: %w", errdefs.ErrInvalidArgument)
	}
	unlock, err := s.lock()
	if err != nil {
		return record{}, err
	}
	defer unlock()
	if _, err := s.get(key); err == nil {
		return record{}, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
	} else if !errdefs.IsNotFound(err) {
		return record{}, err
	}
	r := record{Name: key, Kind: kind, Created: time.Now().UTC(), Labels: labels}
	if r, err = s.withParent(r, parent); err != nil {
		return record{}, err
	}
	dir, err := os.MkdirTemp(filepath.Join(s.root, "ids"), "")
	if err != nil {
		return record{}, err
	}
	r.ID = filepath.Base(dir)
	if err := s.drv.create(dir, kind, s.parentDirs(r)); err != nil {
		os.RemoveAll(dir)
		return record{}, fmt.Errorf("snapshot %q: %w", key, err)
	}
	if err := errors.Join(s.write(r), s.link(key, r.ID)); err != nil {
		os.RemoveAll(dir)
		return record{}, err
	}
	return r, nil
}

// withParent puts r on the committed snapshot parent ("" for none).
func (s *snapshotter) withParent(r record, parent string) (record, error) {
	r.Parent, r.Parents = parent, nil
	if parent == "" {
		return r, nil
	}
	p, err := s.get(parent)
	if err != nil {
		return record{}, fmt.Errorf("parent: %w", err)
	}
	if p.Kind != KindCommitted {
		return record{}, fmt.Errorf("parent snapshot %q is %s, not committed: %w", parent, p.Kind, errdefs.ErrInvalidArgument)
	}
	r.Parents = append([]string{p.ID}, p.Parents...)
	return r, nil
}

func (s *snapshotter) Mounts(ctx context.Context, key string) ([]Mount, error) {
	r, err := s.get(key)
	if err != nil {
		return nil, err
	}
	if r.Kind == KindCommitted {
		return nil, fmt.Errorf("snapshot %q is committed: view it to mount it: %w", key, errdefs.ErrInvalidArgument)
	}
	return s.mounts(r), nil
}

// locked runs fn with the record of key, holding the index's lock.
func (s *snapshotter) locked(key string, fn func(record) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, err := s.get(key)
	if err != nil {
		return err
	}
	return fn(r)
}

func (s *snapshotter) Commit(ctx context.Context, name, key string) error {
	return s.locked(key, func(r record) error { return s.commit(r, name, key) })
}

func (s *snapshotter) commit(r record, name, key string) error {
	if r.Kind != KindActive {
		return fmt.Errorf("snapshot %q is %s; only an active one commits: %w", key, r.Kind, errdefs.ErrInvalidArgument)
	}
	if _, err := s.get(name); err == nil {
		return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
	}
	r.Name, r.Kind = name, KindCommitted
	delete(r.Labels, LabelVolatile)
	os.RemoveAll(filepath.Join(s.dir(r.ID), "work"))
	if err := s.write(r); err != nil {
		return err
	}
	if err := s.link(name, r.ID); err != nil {
		return err
	}
	return os.Remove(s.nameLink(key))
}

func (s *snapshotter) Remove(ctx context.Context, key string) error {
	return s.locked(key, func(r record) error { return s.remove(r, key) })
}

func (s *snapshotter) remove(r record, key string) error {
	if r.Kind == KindCommitted { // only a committed snapshot has others on it
		var children []string
		err := s.walk(func(c record) error {
			if c.Parent == key {
				children = append(children, c.Name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(children) > 0 {
			return fmt.Errorf("snapshot %q has %d snapshots on it (%s, ...): %w", key, len(children), children[0], errdefs.ErrConflict)
		}
	}
	// Out of the index first, then off the disk: a crash in between leaves
	// only an unnamed directory.
	if err := os.Remove(s.nameLink(key)); err != nil {
		return err
	}
	gone := s.dir(r.ID) + ".removing"
	if err := os.Rename(s.dir(r.ID), gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

func (s *snapshotter) Usage(ctx context.Context, key string) (Usage, error) {
	r, err := s.get(key)
	if err != nil {
		return Usage{}, err
	}
	return diskUsage(ctx, filepath.Join(s.dir(r.ID), "fs"))
}

func (s *snapshotter) Walk(ctx context.Context, fn func(Info) error) error {
	return s.walk(func(r record) error { return fn(r.info()) })
}

func (s *snapshotter) walk(fn func(record) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "names"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(s.root, "names", e.Name()))
		if err != nil {
			continue // a link being replaced
		}
		r, err := s.read(filepath.Base(target))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// diskUsage adds up the blocks and inodes under dir, each inode once.
func diskUsage(ctx context.Context, dir string) (Usage, error) {
	var u Usage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return Usage{}, nil
	}
	return u, err
}
