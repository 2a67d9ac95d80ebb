// Package network gives containers (and build steps) a network of their own
// without a daemon and without touching the host's firewall or forwarding.
//
// Each network lives in a network namespace of its own, pinned under the
// store, which holds a bridge (strata0, the network's gateway), the tap
// device of a slirp4netns process (a user-mode TCP/IP stack that makes the
// containers' outbound connections as ordinary sockets of the host, and
// refuses the host's loopback: --disable-host-loopback), and the only
// forwarding and NAT rules there are, which apply inside that namespace
// alone. A container joins with a veth pair: eth0 in its own namespace, the
// other end on the bridge. So containers reach the outside and each other,
// and the host's loopback services and traffic stay out of reach; this is
// the shape of podman's rootless network namespace.
//
// Layout under the store's root:
//
//	networks/NAME/config.json  the network: name, subnet, gateway
//	networks/NAME/netns        its network namespace (a bind mount of nsfs)
//	networks/NAME/slirp.pid    "PID START" of its slirp4netns; slirp.log
//	networks/NAME/lock         flock while the network is set up or leased from
//	networks/NAME/leases/IP    an address in use: the container ID that holds it
package network

import (
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Names of the networks every store has.
const (
	Default = "bridge" // the isolated default network, as Docker's "bridge"
	None    = "none"   // a loopback only
	Host    = "host"   // the host's own network: no isolation
)

// Config is a network's config.json.
type Config struct {
	Name    string       `json:"name"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	// DNS resolves names for the network's containers: slirp4netns's
	// resolver, which asks the host's.
	DNS     netip.Addr `json:"dns"`
	Created time.Time  `json:"created"`
}

// defaultConfig is the default network's: the subnet podman uses.
func defaultConfig() Config {
	return Config{Name: Default, Subnet: netip.MustParsePrefix("10.88.0.0/16"),
		Gateway: netip.MustParseAddr("10.88.0.1"), DNS: slirpDNS}
}

// slirp4netns's own addresses on its tap device.
var (
	slirpDNS   = netip.MustParseAddr("10.0.2.3")
	slirpGuest = netip.MustParsePrefix("10.0.2.100/24")
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses a network name that is not one Docker allows.
func CheckName(name string) error {
	if !validName.MatchString(name) || len(name) > 64 {
		return fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Endpoint is a container's place on a network.
type Endpoint struct {
	Network string
	IP      netip.Prefix // its address, with the network's prefix length
	Gateway netip.Addr
	DNS     netip.Addr
	MAC     string
}
