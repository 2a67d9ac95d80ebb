package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EtcFiles writes the container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into dir and returns where each goes in the container.
// With the host's network they are the host's; otherwise hosts names
// localhost and the container, and resolv.conf is the host's (its
// nameservers are unreachable without a network, as under Docker's "none").
func EtcFiles(dir, hostname, network string) (map[string]string, error) {
	files := map[string]string{}
	write := func(name string, body []byte) error {
		p := filepath.Join(dir, name)
		files["/etc/"+name] = p
		return os.WriteFile(p, body, 0o644)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", hostname)
	if network == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil
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
