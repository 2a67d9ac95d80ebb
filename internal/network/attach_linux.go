package network

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Attach puts the container whose network namespace is pinned at
// containerNS on network name (Default, or one made with Create): the
// network is set up first if need be, the container gets an address of its
// own on eth0 and a default route through the network's gateway.
func (n *Networks) Attach(name, containerID, containerNS string) (Endpoint, error) {
	c, err := n.Config(name)
	if err != nil {
		return Endpoint{}, err
	}
	var ep Endpoint
	err = n.locked(name, func() error {
		if err := n.ensure(c); err != nil {
			return err
		}
		ip, err := n.lease(c, containerID)
		if err != nil {
			return err
		}
		ep = Endpoint{Network: name, IP: netip.PrefixFrom(ip, c.Subnet.Bits()), Gateway: c.Gateway, DNS: c.DNS}
		ep.MAC, err = n.plug(c, containerID, containerNS, ep)
		if err != nil {
			n.release(name, containerID)
		}
		return err
	})
	return ep, err
}

// plug makes the veth pair: the container's end is eth0 in its namespace,
// with its address and default route; the other is on the bridge.
func (n *Networks) plug(c Config, containerID, containerNS string, ep Endpoint) (string, error) {
	h, closeNet, err := handleAt(n.path(c.Name, "netns"))
	if err != nil {
		return "", err
	}
	defer closeNet()
	br, err := h.LinkByName(bridgeName)
	if err != nil {
		return "", fmt.Errorf("network %s: its bridge: %w", c.Name, err)
	}
	hostEnd := vethName(containerID)
	if old, err := h.LinkByName(hostEnd); err == nil { // left by a crash
		h.LinkDel(old)
	}
	cns, err := netns.GetFromPath(containerNS)
	if err != nil {
		return "", err
	}
	defer cns.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd, MTU: bridgeMTU, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(int(cns))}
	if err := h.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("add veth pair: %w", err)
	}
	if err := h.LinkSetUp(veth); err != nil {
		return "", err
	}
	ch, err := netlink.NewHandleAt(cns)
	if err != nil {
		return "", err
	}
	defer ch.Close()
	eth0, err := ch.LinkByName("eth0")
	if err != nil {
		return "", err
	}
	if err := ch.AddrAdd(eth0, &netlink.Addr{IPNet: prefixNet(ep.IP)}); err != nil {
		return "", fmt.Errorf("container address: %w", err)
	}
	if err := ch.LinkSetUp(eth0); err != nil {
		return "", err
	}
	if err := ch.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(ep.Gateway.AsSlice())}); err != nil {
		return "", fmt.Errorf("container route: %w", err)
	}
	return eth0.Attrs().HardwareAddr.String(), nil
}

// vethName is the bridge's end of a container's veth pair (15 bytes at most).
func vethName(containerID string) string { return "veth" + containerID[:11] }

// lease gives the container an address of the network: the one it already
// holds (a container started again), else the lowest free one.
func (n *Networks) lease(c Config, containerID string) (netip.Addr, error) {
	dir := n.path(c.Name, "leases")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return netip.Addr{}, err
	}
	taken := map[netip.Addr]bool{}
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue
		}
		taken[ip] = true
		if b, err := os.ReadFile(n.path(c.Name, "leases", e.Name())); err == nil && string(b) == containerID {
			return ip, nil
		}
	}
	for ip := c.Gateway.Next(); c.Subnet.Contains(ip); ip = ip.Next() {
		if taken[ip] || !c.Subnet.Contains(ip.Next()) { // the last is the broadcast address
			continue
		}
		f, err := os.OpenFile(n.path(c.Name, "leases", ip.String()), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return netip.Addr{}, err
		}
		_, err = f.WriteString(containerID)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return ip, err
	}
	return netip.Addr{}, fmt.Errorf("network %s has no free address left in %s: %w", c.Name, c.Subnet, errdefs.ErrUnavailable)
}

// Detach gives back the container's address on network name; its veth
// pair goes with its namespace. The last container to leave takes the
// network's namespace and slirp4netns down with it (as podman's rootless
// network namespace goes), so nothing runs for a network nobody uses and a
// store holds no mount while no container runs. Detaching what is not
// attached is no error.
func (n *Networks) Detach(name, containerID string) error {
	return n.locked(name, func() error {
		if err := n.release(name, containerID); err != nil {
			return err
		}
		return n.downIfUnused(name)
	})
}

func (n *Networks) release(name, containerID string) error {
	entries, err := os.ReadDir(n.path(name, "leases"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := n.path(name, "leases", e.Name())
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == containerID {
			return os.Remove(p)
		}
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netipPrefix(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits) }
