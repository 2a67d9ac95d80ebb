package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/network"
)

// TestHostGreeting is what the test host's server says to every connection.
const TestHostGreeting = "hello from the test host"

// StartTestHost makes an "internet" for a test: a network namespace of its
// own joined to the host's by a veth pair on a random /30 of 10.123.0.0/16,
// with a TCP server inside that writes TestHostGreeting and a newline to
// each connection. It returns the server's HOST:PORT; all of it goes when
// the test ends. Tests send traffic only there (or to loopback).
func StartTestHost(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	Tool(t, "ip")
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<14))
	base := int(n.Int64()) * 4
	hostIP := fmt.Sprintf("10.123.%d.%d", base/256, base%256+1)
	peerIP := fmt.Sprintf("10.123.%d.%d", base/256, base%256+2)
	ns, hostEnd := "strata-th-"+id, "sth"+id
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostEnd).Run() })
	ip("addr", "add", hostIP+"/30", "dev", hostEnd)
	ip("link", "set", hostEnd, "up")
	ip("-n", ns, "addr", "add", peerIP+"/30", "dev", "eth0")
	ip("-n", ns, "link", "set", "eth0", "up")
	ip("-n", ns, "link", "set", "lo", "up")
	var l net.Listener
	err := network.InNetNS("/run/netns/"+ns, func() (err error) {
		l, err = net.Listen("tcp", peerIP+":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, TestHostGreeting)
			c.Close()
		}
	}()
	return l.Addr().String()
}
