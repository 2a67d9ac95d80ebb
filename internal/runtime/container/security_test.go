package container

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/store"
	"github.com/strata-dev/strata/internal/testutil"
)

var (
	probeOnce sync.Once
	probeBin  string
	probeErr  error
)

// probeImage adds probe:test to the env's store: busybox with the hostile
// program of testdata/probe at /probe, built static.
func probeImage(t *testing.T, e *env) store.Image {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strata-probe-")
		if err != nil {
			probeErr = err
			return
		}
		probeBin = filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probeBin, "./testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("build the probe: %v: %s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	body, err := os.ReadFile(probeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "probe"), body, 0o755); err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	if err := archive.WriteDir(ctx, &layer, rootfs); err != nil {
		t.Fatal(err)
	}
	tag, _ := image.ParseTag("probe:test")
	img, err := e.st.Import(ctx, &layer, store.ImportOptions{Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDefaultSeccompRefuses: what the issue found a container could do to
// the host's kernel (join the host's keyring, unshare a user namespace,
// perf_event_open, add_key, io_uring_setup) and the rest of what Docker's
// default profile blocks is refused with EPERM, as docker refuses it; with
// seccomp=unconfined the same probe gets through, so the profile is what
// refuses.
func TestDefaultSeccompRefuses(t *testing.T) {
	e := newEnv(t, "")
	img := probeImage(t, e)
	out, _, _, _ := e.run(t, img, runtime.Options{}, "/probe", "syscalls")
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, res, _ := strings.Cut(line, " ")
		got[name] = res
	}
	for _, name := range []string{"keyctl", "add_key", "request_key", "unshare", "perf_event_open", "io_uring_setup",
		"bpf", "userfaultfd", "mount", "open_by_handle_at", "init_module", "kexec_load", "acct", "swapoff", "reboot"} {
		if got[name] != "EPERM" {
			t.Errorf("%s in a container: %q, want EPERM", name, got[name])
		}
	}
	out, _, code, _ := e.run(t, e.img, runtime.Options{}, "unshare", "-U", "true")
	if code == 0 {
		t.Errorf("unshare -U in a container succeeded: %s", out)
	}

	out, _, _, _ = e.run(t, img, runtime.Options{Security: runtime.Security{Seccomp: "unconfined"}}, "/probe", "syscalls")
	if !strings.Contains(out, "keyctl ok") {
		t.Errorf("with seccomp=unconfined the keyring is still refused, so the test proves nothing:\n%s", out)
	}
}

// TestSecurityOptions: capabilities added and dropped, no-new-privileges,
// a seccomp profile of one's own, and --privileged, each seen from inside.
func TestSecurityOptions(t *testing.T) {
	e := newEnv(t, "")
	profile := `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`
	cases := []struct {
		name string
		sec  runtime.Security
		cmd  string
		want string
	}{
		{"docker's capabilities", runtime.Security{}, "grep CapEff /proc/self/status", "00000000a80425fb"},
		{"drop all, add one", runtime.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"net_admin"}}, "grep CapEff /proc/self/status", "0000000000001000"},
		{"drop NET_RAW: no ping socket", runtime.Security{CapDrop: []string{"NET_RAW"}}, "grep CapEff /proc/self/status", "00000000a80405fb"},
		{"no-new-privileges", runtime.Security{NoNewPrivileges: true}, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1"},
		{"default: privileges may grow", runtime.Security{}, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t0"},
		{"default seccomp filter", runtime.Security{}, "grep '^Seccomp:' /proc/self/status", "Seccomp:\t2"},
		{"own profile", runtime.Security{Seccomp: profile}, "mkdir /tmp/x 2>&1; echo $?", "1"},
		{"privileged: no filter", runtime.Security{Privileged: true}, "grep '^Seccomp:' /proc/self/status", "Seccomp:\t0"},
		{"privileged: can mount", runtime.Security{Privileged: true}, "mount -t tmpfs t /tmp && echo mounted", "mounted"},
		{"not privileged: cannot mount", runtime.Security{}, "mount -t tmpfs t /tmp 2>/dev/null || echo refused", "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, _, _ := e.run(t, e.img, runtime.Options{Security: tc.sec}, "sh", "-c", tc.cmd)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%s: %q, want %q", tc.cmd, out, tc.want)
			}
		})
	}
	if _, err := e.m.Create(ctx, e.img, CreateOptions{Run: runtime.Options{Cmd: []string{"true"},
		Security: runtime.Security{CapAdd: []string{"CAP_NOT_A_THING"}}}}); err == nil {
		t.Errorf("an unknown capability was accepted")
	}
	if _, err := e.m.Create(ctx, e.img, CreateOptions{Run: runtime.Options{Cmd: []string{"true"},
		Security: runtime.Security{Seccomp: `{"defaultAction": 7}`}}}); err == nil {
		t.Errorf("a malformed seccomp profile was accepted")
	}
}

// TestDefaultNetworkIsolation: on the default network a container reaches
// the outside (a test host in a network namespace of the test's own), but
// not a service on the host's 127.0.0.1, directly or through slirp4netns's
// host alias, and even with CAP_NET_RAW it sees none of the host's
// loopback traffic, which the same probe sees with --network host.
func TestDefaultNetworkIsolation(t *testing.T) {
	e := newEnv(t, "")
	testutil.Tool(t, "slirp4netns")
	testutil.Tool(t, "nft")
	img := probeImage(t, e)
	outside := testutil.StartTestHost(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "host loopback secret")
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())

	out, _, _, _ := e.run(t, img, runtime.Options{}, "/probe", "connect", outside)
	if !strings.Contains(out, testutil.TestHostGreeting) {
		t.Errorf("outbound to the test host %s: %q, want its greeting", outside, out)
	}
	for _, addr := range []string{"127.0.0.1:" + port, "10.0.2.2:" + port, "10.88.0.1:" + port} {
		out, _, _, _ := e.run(t, img, runtime.Options{}, "/probe", "connect", addr)
		if strings.Contains(out, "secret") || !strings.Contains(out, "error") {
			t.Errorf("a container reached the host's loopback service at %s: %q", addr, out)
		}
	}

	marker := fmt.Sprintf("strata-loopback-marker-%d", time.Now().UnixNano())
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the host's loopback traffic, until the test ends
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if c, err := net.Dial("udp", "127.0.0.1:"+port); err == nil {
				c.Write([]byte(marker))
				c.Close()
			}
		}
	}()
	if out, _, _, _ := e.run(t, img, runtime.Options{}, "/probe", "sniff", marker, "2"); strings.TrimSpace(out) != "unseen" {
		t.Errorf("sniffing with CAP_NET_RAW on the default network: %q, want unseen", out)
	}
	if out, _, _, _ := e.run(t, img, runtime.Options{Network: "host"}, "/probe", "sniff", marker, "5"); strings.TrimSpace(out) != "seen" {
		t.Errorf("the same sniffer with --network host: %q, want seen (else the test proves nothing)", out)
	}
}

// TestLimits: the pids, memory and CPU limits are enforced by runc through
// cgroups: a fork bomb stops at the limit (2048 by default), a program
// that allocates past --memory is killed, --cpus sets the CFS quota.
func TestLimits(t *testing.T) {
	e := newEnv(t, "")
	img := probeImage(t, e)
	out, _, _, _ := e.run(t, img, runtime.Options{Resources: runtime.Resources{PidsLimit: 20}}, "/probe", "fork", "30")
	if !strings.Contains(out, "fork: EAGAIN") || strings.Contains(out, "started 30") {
		t.Errorf("30 processes under --pids-limit 20: %q, want fork to fail with EAGAIN", out)
	}
	limits := map[string]string{"pids": "/sys/fs/cgroup/pids/pids.max", "cpu": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2
		limits = map[string]string{"pids": "/sys/fs/cgroup/pids.max", "cpu": "/sys/fs/cgroup/cpu.max"}
	}
	if out, _, _, _ := e.run(t, e.img, runtime.Options{}, "cat", limits["pids"]); strings.TrimSpace(out) != "2048" {
		t.Errorf("default pids limit: %q, want 2048", out)
	}
	if out, _, _, _ := e.run(t, e.img, runtime.Options{Resources: runtime.Resources{CPUs: 0.5}}, "cat", limits["cpu"]); !strings.HasPrefix(strings.TrimSpace(out), "50000") {
		t.Errorf("--cpus 0.5: CFS quota %q, want 50000", out)
	}
	out, _, code, _ := e.run(t, img, runtime.Options{Resources: runtime.Resources{Memory: 32 << 20}}, "/probe", "alloc", "200")
	if code != 137 || strings.Contains(out, "allocated") {
		t.Errorf("allocating 200 MiB under --memory 32m: status %d, %q; want killed (137)", code, out)
	}
	if out, _, code, _ := e.run(t, img, runtime.Options{}, "/probe", "alloc", "200"); code != 0 || !strings.Contains(out, "allocated 200") {
		t.Errorf("allocating 200 MiB without a limit: status %d, %q", code, out)
	}
}

// TestProgramOnAVolume: a program that lives on a -v volume (a directory,
// or the file itself) can be the container's command, found by path or
// through PATH; a missing one still exits 127.
func TestProgramOnAVolume(t *testing.T) {
	e := newEnv(t, "")
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "hello"), []byte("#!/bin/sh\necho hello from the volume\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := runtime.Volume{Source: tools, Target: "/opt/tools"}
	file := runtime.Volume{Source: filepath.Join(tools, "hello"), Target: "/usr/local/bin/greet"}
	cases := []struct {
		vols []runtime.Volume
		env  []string
		cmd  string
	}{
		{[]runtime.Volume{dir}, nil, "/opt/tools/hello"},
		{[]runtime.Volume{dir}, []string{"PATH=/bin:/opt/tools"}, "hello"},
		{[]runtime.Volume{file}, nil, "/usr/local/bin/greet"},
	}
	for _, tc := range cases {
		out, _, code, _ := e.run(t, e.img, runtime.Options{Volumes: tc.vols, Env: tc.env}, tc.cmd)
		if code != 0 || out != "hello from the volume\n" {
			t.Errorf("%s on a volume: status %d, %q", tc.cmd, code, out)
		}
	}
	c, err := e.m.Create(ctx, e.img, CreateOptions{Run: runtime.Options{Volumes: []runtime.Volume{dir}, Cmd: []string{"/opt/tools/missing"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, code, _ := e.start(t, c.ID, nil); code != 127 {
		t.Errorf("a missing program on a volume: status %d, want 127", code)
	}
}

// TestPublishUDP: a UDP port published with -p is reached from the host's
// loopback, and the container's answer comes back.
func TestPublishUDP(t *testing.T) {
	e := newEnv(t, "")
	testutil.Tool(t, "slirp4netns")
	img := probeImage(t, e)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close() // a free port for the container to publish
	o := runtime.Options{Cmd: []string{"/probe", "udp-echo", "9000"},
		Ports: []network.Port{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 9000, Proto: "udp"}}}
	c, err := e.m.Create(ctx, img, CreateOptions{Run: o})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.m.Run(ctx, c.ID, IO{}); done <- err }()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 100)
	var got string
	for i := 0; i < 200 && got == ""; i++ {
		time.Sleep(50 * time.Millisecond) // the container may not be up yet
		conn.Write([]byte("datagram"))
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil {
			got = string(buf[:n])
		}
	}
	if got != "echo: datagram" {
		t.Errorf("the published UDP port answered %q", got)
		e.m.Stop(ctx, c.ID, 0)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
