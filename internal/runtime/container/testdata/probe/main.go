// Command probe is a hostile program for the container tests: it tries what
// a container must not be able to do and prints what the kernel said.
//
//	probe syscalls           one line per syscall: NAME ok|ERRNO
//	probe sniff MARKER SECS  "seen" if a packet with MARKER passes any interface it can see, else "unseen"
//	probe connect HOST:PORT  the first line the server sends, or the error
//	probe udp-echo PORT      answers one datagram with "echo: " and it
//	probe fork N             starts N sleeping processes (stopping at the first failure), prints "started K"
//	probe alloc MIB          allocates and touches MIB mebibytes, then prints "allocated"
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	switch os.Args[1] {
	case "syscalls":
		syscalls()
	case "sniff":
		secs, _ := strconv.Atoi(os.Args[3])
		sniff([]byte(os.Args[2]), time.Duration(secs)*time.Second)
	case "connect":
		c, err := net.DialTimeout("tcp", os.Args[2], 3*time.Second)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("%s%v\n", line, err)
	case "udp-echo":
		pc, err := net.ListenPacket("udp", ":"+os.Args[2])
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		b := make([]byte, 65536)
		n, from, err := pc.ReadFrom(b)
		if err == nil {
			pc.WriteTo(append([]byte("echo: "), b[:n]...), from)
		}
	case "fork":
		n, _ := strconv.Atoi(os.Args[2])
		var pids []int
		for i := 0; i < n; i++ {
			pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, nil)
			if err != nil {
				fmt.Println("fork:", errno(err))
				break
			}
			pids = append(pids, pid)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		fmt.Println("started", len(pids))
	case "alloc":
		n, _ := strconv.Atoi(os.Args[2])
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
	}
}

func errno(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(unix.Errno); ok {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func raw(nr uintptr, args ...uintptr) error {
	a := append(args, 0, 0, 0, 0, 0, 0)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

func syscalls() {
	params := make([]byte, 120)
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
	attr.Size = uint32(unsafe.Sizeof(attr))
	bpfAttr := make([]byte, 128)
	tests := []struct {
		name string
		fn   func() error
	}{
		{"keyctl", func() error { _, err := unix.KeyctlJoinSessionKeyring("probe"); return err }},
		{"add_key", func() error {
			_, err := unix.AddKey("user", "probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
			return err
		}},
		{"request_key", func() error { _, err := unix.RequestKey("user", "probe", "", 0); return err }},
		{"unshare", func() error { return unix.Unshare(unix.CLONE_NEWUSER) }},
		{"perf_event_open", func() error {
			fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"io_uring_setup", func() error { return raw(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0]))) }},
		{"bpf", func() error { return raw(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&bpfAttr[0])), 72) }},
		{"userfaultfd", func() error { return raw(unix.SYS_USERFAULTFD, 0) }},
		{"mount", func() error { return unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "") }},
		{"open_by_handle_at", func() error { return raw(unix.SYS_OPEN_BY_HANDLE_AT, 0, 0, 0) }},
		{"init_module", func() error { return raw(unix.SYS_INIT_MODULE, 0, 0, 0) }},
		{"kexec_load", func() error { return raw(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0) }},
		{"acct", func() error { return raw(unix.SYS_ACCT, 0) }},
		{"swapoff", func() error { return raw(unix.SYS_SWAPOFF, 0) }},
		{"reboot", func() error { return raw(unix.SYS_REBOOT, 0, 0, 0, 0) }}, // bad magic: EINVAL if it got through
	}
	for _, t := range tests {
		fmt.Println(t.name, errno(t.fn()))
	}
}

func sniff(marker []byte, d time.Duration) {
	proto := uint16(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(proto>>8|proto<<8))
	if err != nil {
		fmt.Println("socket:", errno(err))
		return
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 65536)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == nil && bytes.Contains(buf[:n], marker) {
			fmt.Println("seen")
			return
		}
	}
	fmt.Println("unseen")
}
