package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

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

// HoldNetwork keeps network n ("" for the default) up until release is
// called, as network.Networks.Hold does; none and host need nothing.
func (m *Manager) HoldNetwork(n string) (release func() error, err error) {
	switch n = networkName(n); n {
	case network.None, network.Host:
		return func() error { return nil }, nil
	}
	return m.networks.Hold(n)
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

// Networks are the networks of the manager's store.
func (m *Manager) Networks() *network.Networks { return m.networks }

// joined is a running container's place on its network.
type joined struct {
	netns string // its namespace, "" with the host's network
	ep    network.Endpoint
	proxy *network.Proxy
	leave func()
}

// joinNetwork gives the container its network namespace, pinned in its
// directory, puts it on its network, publishes its ports and writes the
// /etc files that go with all that; on a named network the containers
// there and it learn each other's names. leave undoes it once the
// container has ended.
func (m *Manager) joinNetwork(ctx context.Context, c Container) (*joined, error) {
	s := c.Settings
	name := networkName(s.Options.Network)
	dir := m.dir(c.ID)
	etc := runtime.Etc{Hostname: s.Hostname, HostNetwork: name == network.Host, DNS: s.Options.DNS}
	for _, h := range s.Options.ExtraHosts {
		host, ip, _ := strings.Cut(h, ":")
		etc.ExtraHosts = append(etc.ExtraHosts, ip+"\t"+host)
	}
	j := &joined{leave: func() {}}
	if name == network.Host {
		_, err := runtime.EtcFiles(dir, etc)
		return j, err
	}
	j.netns = filepath.Join(dir, "netns")
	network.RemoveNetNS(j.netns)
	if err := network.NewNetNS(j.netns); err != nil {
		return nil, err
	}
	undo := []func(){func() { network.RemoveNetNS(j.netns) }}
	j.leave = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if name != network.None {
		ep, err := m.networks.Attach(name, c.ID, j.netns)
		if err != nil {
			j.leave()
			return nil, err
		}
		j.ep = ep
		epFile := filepath.Join(dir, "endpoint.json")
		b, _ := json.Marshal(ep)
		os.WriteFile(epFile, b, 0o600)
		undo = append(undo, func() { m.networks.Detach(name, c.ID); os.Remove(epFile) })
		etc.IP = ep.IP.Addr().String()
		if len(etc.DNS) == 0 {
			etc.DNS = []string{ep.DNS.String()}
		}
		if name != network.Default { // as Docker: names resolve on networks users make
			self := hostsLine(ep.IP.Addr().String(), c)
			peers := m.peers(ctx, name, c.ID)
			for _, p := range peers {
				etc.ExtraHosts = append(etc.ExtraHosts, p.line)
				editHosts(filepath.Join(m.dir(p.id), "hosts"), self, true)
			}
			undo = append(undo, func() {
				for _, p := range m.peers(context.WithoutCancel(ctx), name, c.ID) {
					editHosts(filepath.Join(m.dir(p.id), "hosts"), self, false)
				}
			})
		}
		if len(s.Options.Ports) > 0 {
			proxy, err := network.Publish(m.networks.NamespacePath(name), ep, s.Options.Ports)
			if err != nil {
				j.leave()
				return nil, err
			}
			j.proxy = proxy
			b, _ := json.Marshal(proxy.Ports)
			os.WriteFile(filepath.Join(dir, "ports.json"), b, 0o600)
			undo = append(undo, func() { proxy.Close(); os.Remove(filepath.Join(dir, "ports.json")) })
		}
	}
	if _, err := runtime.EtcFiles(dir, etc); err != nil {
		j.leave()
		return nil, err
	}
	return j, nil
}

// peer is another container on a network, with its /etc/hosts line there.
type peer struct{ id, line string }

// peers lists the other containers on network name.
func (m *Manager) peers(ctx context.Context, name, self string) []peer {
	members, _ := m.networks.Members(name)
	var out []peer
	for id, ip := range members {
		if id == self {
			continue
		}
		if c, err := m.Get(ctx, id); err == nil {
			out = append(out, peer{id: id, line: hostsLine(ip.String(), c)})
		}
	}
	return out
}

// names are what a container is called on a named network: its name and
// host name.
func names(c Container) string {
	n := c.Name
	if h := c.Settings.Hostname; h != "" && h != c.Name {
		n += " " + h
	}
	return n
}

func hostsLine(ip string, c Container) string {
	return ip + "\t" + strings.ReplaceAll(names(c), " ", "\t")
}

// editHosts adds line to a running container's /etc/hosts, or takes it
// out, in place: the file is bind-mounted in the container, so it keeps
// its inode.
func editHosts(path, line string, add bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if sc.Text() != line {
			out.WriteString(sc.Text() + "\n")
		}
	}
	if add {
		out.WriteString(line + "\n")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return
	}
	f.Write(out.Bytes())
	f.Close()
}

// Endpoint is where a running container is on its network (zero when it
// is not running or has no network of its own).
func (m *Manager) Endpoint(c Container) network.Endpoint {
	var ep network.Endpoint
	if c.Running() {
		if b, err := os.ReadFile(filepath.Join(m.dir(c.ID), "endpoint.json")); err == nil {
			json.Unmarshal(b, &ep)
		}
	}
	return ep
}

// PublishedPorts are the ports a running container publishes, with the
// host ports the kernel picked.
func (m *Manager) PublishedPorts(c Container) []network.Port {
	if !c.Running() {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(m.dir(c.ID), "ports.json"))
	if err != nil {
		return nil
	}
	var ports []network.Port
	json.Unmarshal(b, &ports)
	return ports
}
