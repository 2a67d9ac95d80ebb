package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// CreateOptions are `network create` flags.
type CreateOptions struct {
	Subnet netip.Prefix // zero: the next free 10.89.N.0/24
}

// Create makes the named network; it is set up when a container first joins.
func (n *Networks) Create(name string, o CreateOptions) (Config, error) {
	if err := CheckName(name); err != nil {
		return Config{}, err
	}
	if name == Default || name == None || name == Host || name == "default" {
		return Config{}, fmt.Errorf("network %s is predefined: %w", name, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return Config{}, err
	}
	var c Config
	// The store-wide lock of the default network serialises picking subnets.
	err := n.locked(Default, func() error {
		if _, err := os.Stat(n.path(name, "config.json")); err == nil {
			return fmt.Errorf("network with name %s already exists: %w", name, errdefs.ErrAlreadyExists)
		}
		subnet := o.Subnet
		if !subnet.IsValid() {
			var err error
			if subnet, err = n.freeSubnet(); err != nil {
				return err
			}
		}
		if !subnet.Addr().Is4() || subnet.Bits() > 29 {
			return fmt.Errorf("--subnet %s: want an IPv4 network of /29 or more addresses: %w", subnet, errdefs.ErrInvalidArgument)
		}
		subnet = subnet.Masked()
		c = Config{Name: name, Subnet: subnet, Gateway: subnet.Addr().Next(), DNS: slirpDNS, Created: time.Now().UTC()}
		if err := os.MkdirAll(n.path(name, "leases"), 0o700); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(c, "", "  ")
		return os.WriteFile(n.path(name, "config.json"), b, 0o600)
	})
	return c, err
}

// freeSubnet is the first 10.89.N.0/24 no network has.
func (n *Networks) freeSubnet() (netip.Prefix, error) {
	cs, err := n.List()
	if err != nil {
		return netip.Prefix{}, err
	}
	for i := 0; i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		taken := false
		for _, c := range cs {
			taken = taken || c.Subnet.Overlaps(p)
		}
		if !taken {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free subnet left in 10.89.0.0/16: give one with --subnet: %w", errdefs.ErrUnavailable)
}

// List lists every network, the default one first, then by name.
func (n *Networks) List() ([]Config, error) {
	out := []Config{defaultConfig()}
	entries, err := os.ReadDir(n.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() == Default {
			continue
		}
		c, err := n.Config(e.Name())
		if errdefs.IsNotFound(err) {
			continue // a directory without config: being made or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out, nil
}

// Members are the containers on a network now: ID to address.
func (n *Networks) Members(name string) (map[string]netip.Addr, error) {
	entries, err := os.ReadDir(n.path(name, "leases"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]netip.Addr{}
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(n.path(name, "leases", e.Name())); err == nil {
			out[strings.TrimSpace(string(b))] = ip
		}
	}
	return out, nil
}

// Remove deletes a network that no container is on.
func (n *Networks) Remove(name string) error {
	if name == Default || name == None || name == Host || name == "default" {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", name, errdefs.ErrInvalidArgument)
	}
	if _, err := n.Config(name); err != nil {
		return err
	}
	return n.locked(name, func() error {
		if m, err := n.Members(name); err != nil || len(m) > 0 {
			if err == nil {
				err = fmt.Errorf("error while removing network: network %s has active endpoints: %w", name, errdefs.ErrConflict)
			}
			return err
		}
		if err := n.down(name); err != nil {
			return err
		}
		return os.RemoveAll(n.path(name))
	})
}

// NamespacePath is where the network's namespace is pinned while it is up.
func (n *Networks) NamespacePath(name string) string { return n.path(name, "netns") }
