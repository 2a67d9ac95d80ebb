package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/store"
)

// CreateOptions say how to make a container.
type CreateOptions struct {
	Name       string // "" for a generated one
	Image      string // the image as the user named it
	Run        runtime.Options
	AutoRemove bool // --rm
	PublishAll bool // -P: publish each port the image EXPOSEs on a port the kernel picks
	Restart    RestartPolicy
}

// Settings are what a container is run with, kept as JSON in its record.
type Settings struct {
	Args       []string              // entrypoint and command
	Config     image.ContainerConfig // the image's config, for env, user, working dir
	Options    runtime.Options
	Hostname   string
	Parent     string // the snapshot its writable layer sits on
	AutoRemove bool
	Restart    RestartPolicy `json:",omitempty"`
}

// Container is a container's record with its settings decoded.
type Container struct {
	store.Container
	Settings Settings
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create makes a container of img: its layers unpacked, a writable snapshot
// on them, its /etc files, and its record, in state "created".
func (m *Manager) Create(ctx context.Context, img store.Image, o CreateOptions) (Container, error) {
	if o.Name != "" && !validName.MatchString(o.Name) {
		return Container{}, fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", o.Name, errdefs.ErrInvalidArgument)
	}
	if err := m.checkNetwork(o.Run.Network); err != nil {
		return Container{}, err
	}
	if err := o.Run.Security.Check(); err != nil {
		return Container{}, err
	}
	if err := o.Run.Resources.Check(); err != nil {
		return Container{}, err
	}
	if err := o.Run.Extras.Check(); err != nil {
		return Container{}, err
	}
	if err := m.resolveVolumes(o.Run.Volumes); err != nil {
		return Container{}, err
	}
	if o.AutoRemove && o.Restart.Name != "" {
		return Container{}, fmt.Errorf("conflicting options: --restart and --rm: %w", errdefs.ErrInvalidArgument)
	}
	cfg, chain, err := m.Unpack(ctx, img)
	if err != nil {
		return Container{}, err
	}
	if o.PublishAll {
		o.Run.Ports = append(o.Run.Ports, network.ExposedPorts(cfg.Config.ExposedPorts)...)
	}
	if n := networkName(o.Run.Network); len(o.Run.Ports) > 0 && (n == network.Host || n == network.None) {
		o.Run.Ports = nil // as Docker: nothing to publish from there
	}
	args, err := runtime.Command(cfg.Config, o.Run)
	if err != nil {
		return Container{}, err
	}
	parent, err := m.initLayer(ctx, chain)
	if err != nil {
		return Container{}, err
	}
	id := randomHex(32)
	s := Settings{Args: args, Config: cfg.Config, Options: o.Run, Hostname: hostname(id, o.Run), Parent: parent, AutoRemove: o.AutoRemove, Restart: o.Restart}
	settings, err := json.Marshal(s)
	if err != nil {
		return Container{}, err
	}
	if err := os.MkdirAll(m.dir(id), 0o700); err != nil {
		return Container{}, err
	}
	c := Container{Settings: s, Container: store.Container{ID: id, Name: strings.TrimPrefix(o.Name, "/"), ImageID: img.ID, Image: o.Image,
		Created: time.Now(), Settings: settings, State: store.StateCreated}}
	if err := m.create(ctx, &c); err != nil {
		os.RemoveAll(m.dir(id))
		return Container{}, err
	}
	return c, nil
}

func (m *Manager) create(ctx context.Context, c *Container) error {
	s := c.Settings
	if _, err := runtime.EtcFiles(m.dir(c.ID), runtime.Etc{Hostname: s.Hostname, HostNetwork: s.Options.Network == network.Host}); err != nil {
		return err
	}
	if _, err := m.sn.Prepare(ctx, snapshotKey(c.ID), s.Parent, map[string]string{"strata.container": c.ID}); err != nil {
		return err
	}
	named := c.Name != ""
	var err error
	for try := 0; try < 10; try++ {
		if !named {
			c.Name = randomName()
		}
		if err = m.store.AddContainer(ctx, c.Container); named || !errors.Is(err, errdefs.ErrConflict) {
			break
		}
	}
	if err != nil {
		m.sn.Remove(context.WithoutCancel(ctx), snapshotKey(c.ID))
	}
	return err
}

// hostname is the container's host name: --hostname, the host's with the
// host's network, else the short ID, as in Docker.
func hostname(id string, o runtime.Options) string {
	if o.Hostname != "" {
		return o.Hostname
	}
	if o.Network == network.Host {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return id[:12]
}

// Get finds a container by ID, ID prefix or name.
func (m *Manager) Get(ctx context.Context, ref string) (Container, error) {
	rec, err := m.store.Container(ctx, ref)
	if err != nil {
		return Container{}, err
	}
	return decode(rec)
}

func decode(rec store.Container) (Container, error) {
	c := Container{Container: rec}
	if err := json.Unmarshal(rec.Settings, &c.Settings); err != nil {
		return Container{}, fmt.Errorf("container %s: settings: %w", rec.ID[:12], err)
	}
	return c, nil
}

// List lists every container, newest first.
func (m *Manager) List(ctx context.Context) ([]Container, error) {
	recs, err := m.store.Containers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(recs))
	for _, r := range recs {
		c, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Running reports whether the container runs now: its record says so and
// the strata process that watches it is alive.
func (c Container) Running() bool {
	return c.State == store.StateRunning && alive(c.Pid, c.PidStart)
}
