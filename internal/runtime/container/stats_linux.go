package container

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are a running container's figures, from its cgroups and its
// network namespace, as `docker stats` shows them.
type Stats struct {
	CPUNanos    uint64 // CPU time used since it started
	Memory      uint64 // bytes in use, less the page cache that can be dropped
	MemoryLimit uint64 // its limit, or the host's memory
	Pids        uint64
	NetRx       uint64
	NetTx       uint64
	BlockRead   uint64
	BlockWrite  uint64
}

// cgroupV2 reports whether the host has the unified hierarchy alone.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// Stats reads a running container's figures.
func (m *Manager) Stats(c Container) (Stats, error) {
	var s Stats
	if !c.Running() {
		return s, nil
	}
	v1 := func(ctrl, file string) string { return filepath.Join("/sys/fs/cgroup", ctrl, "strata", c.ID, file) }
	v2 := func(file string) string { return filepath.Join("/sys/fs/cgroup/strata", c.ID, file) }
	if cgroupV2() {
		s.CPUNanos = keyed(v2("cpu.stat"), "usage_usec") * 1000
		s.Memory = less(number(v2("memory.current")), keyed(v2("memory.stat"), "inactive_file"))
		s.MemoryLimit = number(v2("memory.max"))
		s.Pids = number(v2("pids.current"))
		s.BlockRead, s.BlockWrite = ioStatV2(v2("io.stat"))
	} else {
		s.CPUNanos = number(v1("cpuacct", "cpuacct.usage"))
		s.Memory = less(number(v1("memory", "memory.usage_in_bytes")), keyed(v1("memory", "memory.stat"), "total_inactive_file"))
		s.MemoryLimit = number(v1("memory", "memory.limit_in_bytes"))
		s.Pids = number(v1("pids", "pids.current"))
		s.BlockRead = keyedLast(v1("blkio", "blkio.throttle.io_service_bytes"), "Read")
		s.BlockWrite = keyedLast(v1("blkio", "blkio.throttle.io_service_bytes"), "Write")
	}
	if host := hostMemory(); s.MemoryLimit == 0 || s.MemoryLimit > host {
		s.MemoryLimit = host
	}
	if pid, err := os.ReadFile(filepath.Join(m.dir(c.ID), "pid")); err == nil {
		s.NetRx, s.NetTx = netDev("/proc/" + strings.TrimSpace(string(pid)) + "/net/dev")
	}
	return s, nil
}

func less(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func number(p string) uint64 {
	b, _ := os.ReadFile(p)
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// keyed is the value of "key N" in a file of such lines.
func keyed(p, key string) uint64 {
	f, err := os.Open(p)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == key {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// keyedLast sums "DEV KEY N" lines of blkio files for KEY.
func keyedLast(p, key string) uint64 {
	b, _ := os.ReadFile(p)
	var sum uint64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[1] == key {
			n, _ := strconv.ParseUint(f[2], 10, 64)
			sum += n
		}
	}
	return sum
}

func ioStatV2(p string) (read, write uint64) {
	b, _ := os.ReadFile(p)
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "rbytes":
			read += n
		case "wbytes":
			write += n
		}
	}
	return read, write
}

// netDev sums the bytes received and sent on every interface but lo.
func netDev(p string) (rx, tx uint64) {
	b, _ := os.ReadFile(p)
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) >= 9 {
			r, _ := strconv.ParseUint(f[0], 10, 64)
			t, _ := strconv.ParseUint(f[8], 10, 64)
			rx, tx = rx+r, tx+t
		}
	}
	return rx, tx
}

func hostMemory() uint64 { return keyed("/proc/meminfo", "MemTotal:") * 1024 }
