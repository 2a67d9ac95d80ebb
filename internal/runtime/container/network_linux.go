package container

import (
	"path/filepath"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
)

// networkName is the network a container's options name: "" and "default"
// are the default network.
func networkName(n string) string {
	if n == "" || n == "default" {
		return network.Default
	}
	return n
}

// checkNetwork refuses a network that does not exist.
func (m *Manager) checkNetwork(n string) error {
	switch n = networkName(n); n {
	case network.None, network.Host:
		return nil
	}
	if err := network.CheckName(n); err != nil {
		return err
	}
	_, err := m.networks.Config(n)
	return err
}

// joinNetwork gives the container its network namespace, pinned in its
// directory, and puts it on its network; it writes the /etc files that go
// with that. leave undoes it once the container has ended. With the host's
// network there is no namespace ("").
func (m *Manager) joinNetwork(c Container) (netns string, leave func(), err error) {
	s := c.Settings
	name := networkName(s.Options.Network)
	dir := m.dir(c.ID)
	etc := runtime.Etc{Hostname: s.Hostname, HostNetwork: name == network.Host}
	if name == network.Host {
		_, err := runtime.EtcFiles(dir, etc)
		return "", func() {}, err
	}
	netns = filepath.Join(dir, "netns")
	network.RemoveNetNS(netns)
	if err := network.NewNetNS(netns); err != nil {
		return "", nil, err
	}
	leave = func() { network.RemoveNetNS(netns) }
	if name != network.None {
		ep, err := m.networks.Attach(name, c.ID, netns)
		if err != nil {
			leave()
			return "", nil, err
		}
		etc.IP, etc.DNS = ep.IP.Addr().String(), []string{ep.DNS.String()}
		leave = func() {
			network.RemoveNetNS(netns)
			m.networks.Detach(name, c.ID)
		}
	}
	if _, err := runtime.EtcFiles(dir, etc); err != nil {
		leave()
		return "", nil, err
	}
	return netns, leave, nil
}
