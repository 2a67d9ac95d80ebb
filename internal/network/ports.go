package network

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Port is one published port: -p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO].
type Port struct {
	HostIP        string `json:",omitempty"` // "" for every address
	HostPort      int    // 0 for one the kernel picks
	ContainerPort int
	Proto         string // "tcp" or "udp"
}

func (p Port) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Proto)
}

// ParsePort reads -p as docker does; a range (8000-8010:8000-8010) gives
// one Port per port.
func ParsePort(s string) ([]Port, error) {
	bad := func(why string) error {
		return fmt.Errorf("-p %q: %s: want [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]: %w", s, why, errdefs.ErrInvalidArgument)
	}
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return nil, bad("the protocol must be tcp or udp")
	}
	var hostIP, hostPorts, ctrPorts string
	if i := strings.LastIndex(spec, ":"); i >= 0 {
		ctrPorts = spec[i+1:]
		rest := spec[:i]
		if j := strings.LastIndex(rest, ":"); j >= 0 {
			hostIP, hostPorts = strings.Trim(rest[:j], "[]"), rest[j+1:]
		} else {
			hostPorts = rest
		}
	} else {
		ctrPorts = spec
	}
	if hostIP != "" {
		if _, err := netip.ParseAddr(hostIP); err != nil {
			return nil, bad("the host address is not an IP address")
		}
	}
	cLo, cHi, err := portRange(ctrPorts, false)
	if err != nil {
		return nil, bad(err.Error())
	}
	hLo, hHi := 0, 0
	if hostPorts != "" {
		if hLo, hHi, err = portRange(hostPorts, false); err != nil {
			return nil, bad(err.Error())
		}
		if hHi-hLo != cHi-cLo && hLo != hHi {
			return nil, bad("the host and container ranges differ in size")
		}
	}
	var out []Port
	for i := 0; i <= cHi-cLo; i++ {
		hp := 0
		if hostPorts != "" {
			hp = hLo + i
			if hLo == hHi {
				hp = hLo
			}
		}
		out = append(out, Port{HostIP: hostIP, HostPort: hp, ContainerPort: cLo + i, Proto: proto})
	}
	return out, nil
}

func portRange(s string, zeroOK bool) (int, int, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("%q is not a port or a range of ports", s)
	}
	return a, b, nil
}

// ExposedPorts turns an image's EXPOSE list ("80/tcp") into ports for -P,
// each published on a port the kernel picks.
func ExposedPorts(exposed map[string]struct{}) []Port {
	var out []Port
	for e := range exposed {
		port, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 && (proto == "tcp" || proto == "udp") {
			out = append(out, Port{ContainerPort: n, Proto: proto})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerPort < out[j].ContainerPort })
	return out
}
