package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/store"
)

// Update is what `strata update` changes: the fields that are nil stay as
// they are.
type Update struct {
	Memory    *int64
	CPUs      *float64
	PidsLimit *int64
	Restart   *RestartPolicy
}

// apply changes s as u says, or says why it cannot.
func (u Update) apply(s *Settings) error {
	r := s.Options.Resources
	if u.Memory != nil {
		r.Memory = *u.Memory
	}
	if u.CPUs != nil {
		r.CPUs = *u.CPUs
	}
	if u.PidsLimit != nil {
		r.PidsLimit = *u.PidsLimit
	}
	if err := r.Check(); err != nil {
		return err
	}
	s.Options.Resources = r
	if u.Restart != nil {
		if s.AutoRemove && u.Restart.Name != "" {
			return fmt.Errorf("conflicting options: --restart and a container started with --rm: %w", errdefs.ErrInvalidArgument)
		}
		s.Restart = *u.Restart
	}
	return nil
}

// Update changes a container's limits and restart policy, as `docker
// update`: in its cgroups at once when it runs (runc update), and in its
// record, which its next start and its monitor read.
func (m *Manager) Update(ctx context.Context, ref string, u Update) (Container, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return c, err
	}
	next := c.Settings
	if err := u.apply(&next); err != nil {
		return c, err
	}
	if c.Running() {
		if err := m.updateCgroups(ctx, c.ID, next); err != nil {
			return c, err
		}
	}
	rec, err := m.store.UpdateContainer(ctx, c.ID, func(rec *store.Container) error {
		cur, err := decode(*rec)
		if err != nil {
			return err
		}
		if err := u.apply(&cur.Settings); err != nil {
			return err
		}
		rec.Settings, err = json.Marshal(cur.Settings)
		return err
	})
	if err != nil {
		return c, err
	}
	return decode(rec)
}

// updateCgroups hands runc the container's limits, all of them.
func (m *Manager) updateCgroups(ctx context.Context, id string, s Settings) error {
	runc, err := m.runc()
	if err != nil {
		return err
	}
	b, err := json.Marshal(s.Options.Resources.Update())
	if err != nil {
		return err
	}
	file := filepath.Join(m.dir(id), "resources.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return err
	}
	defer os.Remove(file)
	if err := runc.Run(ctx, "update", "--resources", file, id); err != nil {
		return fmt.Errorf("changing the running container's limits: %w", err)
	}
	return nil
}
