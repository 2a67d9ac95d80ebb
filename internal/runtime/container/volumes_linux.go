package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
)

// Volume is a named (or anonymous) volume: a directory of the store that
// containers mount, kept when they go (volumes/NAME/_data, as Docker's).
type Volume struct {
	Name       string
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string
	Anonymous  bool `json:"-"`
	Driver     string
	Scope      string
}

var validVolume = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (m *Manager) volumeDir(name string) string { return filepath.Join(m.root, "volumes", name) }

// CreateVolume makes a volume; a volume that exists is returned as it is.
// name "" makes an anonymous one, named by a random ID.
func (m *Manager) CreateVolume(name string, labels map[string]string) (Volume, error) {
	anonymous := name == ""
	if anonymous {
		name = randomHex(32)
	}
	if !validVolume.MatchString(name) {
		return Volume{}, fmt.Errorf("invalid volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	if v, err := m.GetVolume(name); err == nil {
		return v, nil
	}
	dir := m.volumeDir(name)
	if err := os.MkdirAll(filepath.Join(dir, "_data"), 0o755); err != nil {
		return Volume{}, err
	}
	os.Chmod(filepath.Dir(dir), 0o700)
	v := Volume{Name: name, Mountpoint: filepath.Join(dir, "_data"), CreatedAt: time.Now().UTC().Truncate(time.Second),
		Labels: labels, Anonymous: anonymous, Driver: "local", Scope: "local"}
	b, _ := json.Marshal(struct {
		Volume
		Anonymous bool
	}{v, anonymous})
	return v, os.WriteFile(filepath.Join(dir, "volume.json"), b, 0o600)
}

// GetVolume reads a volume.
func (m *Manager) GetVolume(name string) (Volume, error) {
	b, err := os.ReadFile(filepath.Join(m.volumeDir(name), "volume.json"))
	if errors.Is(err, fs.ErrNotExist) || !validVolume.MatchString(name) {
		return Volume{}, fmt.Errorf("no such volume: %s: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return Volume{}, err
	}
	var v struct {
		Volume
		Anonymous bool
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Volume{}, err
	}
	v.Volume.Anonymous = v.Anonymous
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	return v.Volume, nil
}

// Volumes lists every volume by name.
func (m *Manager) Volumes() ([]Volume, error) {
	entries, err := os.ReadDir(filepath.Join(m.root, "volumes"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []Volume
	for _, e := range entries {
		if v, err := m.GetVolume(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// VolumeUsers names the containers that mount a volume.
func (m *Manager) VolumeUsers(ctx context.Context, name string) ([]string, error) {
	cs, err := m.List(ctx)
	var users []string
	for _, c := range cs {
		for _, v := range c.Settings.Options.Volumes {
			if v.Name == name {
				users = append(users, c.Name)
			}
		}
	}
	return users, err
}

// RemoveVolume deletes a volume that no container mounts.
func (m *Manager) RemoveVolume(ctx context.Context, name string) error {
	if _, err := m.GetVolume(name); err != nil {
		return err
	}
	users, err := m.VolumeUsers(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - %v: %w", name, users, errdefs.ErrConflict)
	}
	return os.RemoveAll(m.volumeDir(name))
}

// PruneVolumes removes the anonymous volumes no container mounts (all
// unused ones with all), and returns their names and the bytes freed.
func (m *Manager) PruneVolumes(ctx context.Context, all bool) ([]string, int64, error) {
	vs, err := m.Volumes()
	if err != nil {
		return nil, 0, err
	}
	var names []string
	var freed int64
	for _, v := range vs {
		if !all && !v.Anonymous {
			continue
		}
		if users, _ := m.VolumeUsers(ctx, v.Name); len(users) > 0 {
			continue
		}
		size := dirSize(v.Mountpoint)
		if err := os.RemoveAll(m.volumeDir(v.Name)); err != nil {
			return names, freed, err
		}
		names, freed = append(names, v.Name), freed+size
	}
	return names, freed, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// resolveVolumes makes the volumes a new container names (named ones that
// do not exist yet, anonymous ones) and points their mounts at them.
func (m *Manager) resolveVolumes(vols []runtime.Volume) error {
	for i, v := range vols {
		if v.Source != "" && v.Name == "" && !v.Anonymous {
			continue // a bind mount
		}
		vol, err := m.CreateVolume(v.Name, nil)
		if err != nil {
			return err
		}
		vols[i].Name, vols[i].Source = vol.Name, vol.Mountpoint
	}
	return nil
}

// removeAnonymousVolumes removes the container's anonymous volumes (rm -v, --rm).
func (m *Manager) removeAnonymousVolumes(ctx context.Context, c Container) {
	for _, v := range c.Settings.Options.Volumes {
		if v.Anonymous {
			m.RemoveVolume(ctx, v.Name)
		}
	}
}

// populateVolumes gives an empty volume the content that the image has
// where it is mounted, with the directory's owner and mode, as docker does
// the first time a volume is used (not for bind mounts). rootfs is the
// container's mounted file system.
func populateVolumes(ctx context.Context, rootfs string, vols []runtime.Volume) error {
	for _, v := range vols {
		if v.Name == "" || v.Source == "" {
			continue // a bind mount
		}
		if entries, err := os.ReadDir(v.Source); err != nil || len(entries) > 0 {
			continue
		}
		rel, err := runtime.ResolveInRoot(rootfs, v.Target)
		if err != nil {
			continue // nothing there in the image
		}
		src := filepath.Join(rootfs, rel)
		st, err := os.Stat(src)
		if err != nil || !st.IsDir() {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			os.Lchown(v.Source, int(sys.Uid), int(sys.Gid))
		}
		os.Chmod(v.Source, st.Mode().Perm()|st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.WriteTree(ctx, pw, rootfs, rel, "")) }()
		if err := archive.ApplyFiles(ctx, v.Source, pr); err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("volume %s: copy the image's %s into it: %w", v.Name, v.Target, err)
		}
	}
	return nil
}
