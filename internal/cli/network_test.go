package cli

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil"
)

// publishedAddr is 127.0.0.1:PORT of the host port `strata port` gives.
func publishedAddr(t *testing.T, root, ctr, port string) string {
	t.Helper()
	out := strings.TrimSpace(mustStrata(t, root, "port", ctr, port))
	_, p, err := net.SplitHostPort(out)
	if err != nil {
		t.Fatalf("strata port %s %s: %q", ctr, port, out)
	}
	return "127.0.0.1:" + p
}

// request reads what a TCP server at addr says to a line, trying for a
// while as the container's server starts.
func request(t *testing.T, addr, line string) string {
	t.Helper()
	var last error
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			fmt.Fprintln(c, line)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil {
				return got
			}
			last = err
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", addr, last)
	return ""
}

// TestNetworking drives networks as a docker user would: -p and -P reached
// from the host's loopback (UDP: TestPublishUDP), containers on a network of their
// own reaching each other by name, --add-host and --dns, outbound access to
// a test host, and network ls, inspect and rm.
func TestNetworking(t *testing.T) {
	root := busyboxRoot(t, "")
	testutil.Tool(t, "slirp4netns")
	outside := testutil.StartTestHost(t)
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", "-c", "EXPOSE 7000", "-c", "EXPOSE 7001/udp", rootfs, "exposer:1")
	echo := `while true; do nc -l -p 7000 -e sh -c 'read l; echo "echo: $l from $(hostname)"'; done`

	mustStrata(t, root, "run", "-d", "--name", "tcp", "-p", "127.0.0.1::7000", "busybox:test", "sh", "-c", echo)
	if got := request(t, publishedAddr(t, root, "tcp", "7000"), "hi"); !strings.HasPrefix(got, "echo: hi from ") {
		t.Errorf("-p: %q", got)
	}
	if ps := mustStrata(t, root, "ps", "--format", "{{.Names}} {{.Ports}}"); !strings.Contains(ps, "tcp 127.0.0.1:") || !strings.Contains(ps, "->7000/tcp") {
		t.Errorf("ps PORTS: %q", ps)
	}

	mustStrata(t, root, "run", "-d", "--name", "all", "-P", "exposer:1", "sh", "-c", echo)
	if got := request(t, publishedAddr(t, root, "all", "7000"), "p"); !strings.HasPrefix(got, "echo: p") {
		t.Errorf("-P tcp: %q", got)
	}
	if ports := mustStrata(t, root, "port", "all"); !strings.Contains(ports, "7000/tcp -> 0.0.0.0:") || !strings.Contains(ports, "7001/udp -> 0.0.0.0:") {
		t.Errorf("port: %q", ports)
	}

	mustStrata(t, root, "network", "create", "app")
	mustStrata(t, root, "run", "-d", "--network", "app", "--name", "db", "busybox:test", "sh", "-c", echo)
	out := mustStrata(t, root, "run", "--rm", "--network", "app", "--add-host", "extra.example:192.0.2.7", "--dns", "192.0.2.53",
		"busybox:test", "sh", "-c", `echo hi | nc db 7000; grep extra.example /etc/hosts; grep nameserver /etc/resolv.conf`)
	for _, want := range []string{"echo: hi from ", "192.0.2.7\textra.example", "nameserver 192.0.2.53"} {
		if !strings.Contains(out, want) {
			t.Errorf("on network app: %q, want %q", out, want)
		}
	}
	if out := mustStrata(t, root, "run", "--rm", "--network", "app", "busybox:test", "/bin/sh", "-c", "printf x | nc "+
		strings.Replace(outside, ":", " ", 1)); !strings.Contains(out, testutil.TestHostGreeting) {
		t.Errorf("outbound from network app: %q", out)
	}
	if ls := mustStrata(t, root, "network", "ls", "--format", "{{.Name}}"); ls != "bridge\napp\nhost\nnone\n" {
		t.Errorf("network ls: %q", ls)
	}
	if insp := mustStrata(t, root, "network", "inspect", "app"); !strings.Contains(insp, `"Name": "db"`) {
		t.Errorf("network inspect: %s", insp)
	}
	if _, err := strata(t, root, nil, "network", "rm", "app"); err == nil || !strings.Contains(err.Error(), "active endpoints") {
		t.Errorf("network rm of a network in use: %v", err)
	}
	mustStrata(t, root, "rm", "-f", "db", "tcp", "all")
	mustStrata(t, root, "network", "rm", "app")
	if _, err := os.Stat(filepath.Join(root, "networks", "app")); !os.IsNotExist(err) {
		t.Errorf("network rm left %v", err)
	}
	if _, err := strata(t, root, nil, "run", "--rm", "--network", "app", "busybox:test", "true"); err == nil {
		t.Errorf("run on a removed network succeeded")
	}
}
