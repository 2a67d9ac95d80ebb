package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Etc is what a container's /etc/hosts, /etc/hostname and /etc/resolv.conf say.
type Etc struct {
	Hostname    string
	HostNetwork bool     // the host's network: the host's files
	IP          string   // the container's address on its network, "" for none
	DNS         []string // nameservers; none: the host's
	ExtraHosts  []string // lines of /etc/hosts, "IP<tab>NAME..." (--add-host, containers on the network)
}

// EtcFiles writes the container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into dir and returns where each goes in the container.
// With the host's network they are the host's; otherwise hosts names
// localhost and the container, and resolv.conf has the network's
// nameservers with the host's search domains and options (without a
// network, the host's nameservers, unreachable, as under Docker's "none").
func EtcFiles(dir string, e Etc) (map[string]string, error) {
	files := map[string]string{}
	write := func(name string, body []byte) error {
		p := filepath.Join(dir, name)
		files["/etc/"+name] = p
		return os.WriteFile(p, body, 0o644)
	}
	hostname := e.Hostname
	self := "127.0.1.1"
	if e.IP != "" {
		self = e.IP
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", self, hostname)
	for _, h := range e.ExtraHosts {
		hosts += h + "\n"
	}
	if e.HostNetwork {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	if !e.HostNetwork && len(e.DNS) > 0 {
		resolv = resolvConf(resolv, e.DNS)
	}
	if err := write("hosts", []byte(hosts)); err != nil {
		return nil, err
	}
	if err := write("hostname", []byte(strings.TrimSpace(hostname)+"\n")); err != nil {
		return nil, err
	}
	if err := write("resolv.conf", resolv); err != nil {
		return nil, err
	}
	return files, nil
}

// resolvConf is the host's resolv.conf with its nameservers replaced by dns.
func resolvConf(host []byte, dns []string) []byte {
	var b bytes.Buffer
	for _, ns := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && (f[0] == "search" || f[0] == "options" || f[0] == "domain") {
			b.WriteString(sc.Text() + "\n")
		}
	}
	return b.Bytes()
}
