package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Security is how much a container may do to the kernel it shares: Docker's
// defaults unless asked otherwise.
type Security struct {
	Privileged bool     `json:",omitempty"` // every capability and device, no seccomp, nothing masked
	CapAdd     []string `json:",omitempty"` // --cap-add: NAME, CAP_NAME or ALL
	CapDrop    []string `json:",omitempty"` // --cap-drop
	// Seccomp is "" for Docker's default profile, "unconfined" for none, or
	// the JSON of a profile (read from its file when the container is made).
	Seccomp         string `json:",omitempty"`
	NoNewPrivileges bool   `json:",omitempty"` // --security-opt no-new-privileges
}

// allCaps are the capabilities Linux has, by number (capability.h).
var allCaps = strings.Fields(`CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL
	CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST
	CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT
	CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME
	CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE
	CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF
	CAP_CHECKPOINT_RESTORE`)

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capName turns what a user wrote (net_admin, NET_ADMIN, CAP_NET_ADMIN,
// ALL) into the capability's name, or refuses it.
func capName(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if c == "ALL" {
		return c, nil
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if !slices.Contains(allCaps, c) {
		return "", fmt.Errorf("unknown capability %q: want a name such as NET_ADMIN or ALL: %w", s, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// Capabilities is the container's capability set, as Docker makes it: its
// defaults (every one this process has when privileged), less --cap-drop
// (ALL: start from none), then --cap-add (ALL: every one), but what is
// named in both is dropped.
func (s Security) Capabilities() ([]string, error) {
	adds, err := capNames(s.CapAdd)
	if err != nil {
		return nil, err
	}
	drops, err := capNames(s.CapDrop)
	if err != nil {
		return nil, err
	}
	caps := slices.Clone(dockerCaps)
	if s.Privileged || slices.Contains(adds, "ALL") {
		caps = boundingCaps()
	}
	if slices.Contains(drops, "ALL") {
		caps = nil
	}
	caps = slices.DeleteFunc(caps, func(c string) bool { return slices.Contains(drops, c) })
	have := boundingCaps()
	for _, c := range adds {
		if c == "ALL" || slices.Contains(drops, c) || slices.Contains(caps, c) {
			continue
		}
		if !slices.Contains(have, c) {
			return nil, fmt.Errorf("--cap-add %s: strata itself does not have it to give: %w", c, errdefs.ErrInvalidArgument)
		}
		caps = append(caps, c)
	}
	return caps, nil
}

func capNames(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		c, err := capName(n)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// boundingCaps are the capabilities this process may give (its bounding
// set): what ALL means, as for Docker.
func boundingCaps() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return slices.Clone(allCaps)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				break
			}
			var out []string
			for i, c := range allCaps {
				if mask&(1<<i) != 0 {
					out = append(out, c)
				}
			}
			return out
		}
	}
	return slices.Clone(allCaps)
}

// Check refuses options that would fail later: unknown capabilities, a
// profile that is not a seccomp profile.
func (s Security) Check() error {
	if _, err := s.Capabilities(); err != nil {
		return err
	}
	if s.Seccomp != "" && s.Seccomp != "unconfined" {
		spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
		if _, err := seccomp.LoadProfile(s.Seccomp, spec); err != nil {
			return fmt.Errorf("seccomp profile: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// apply sets the spec's capabilities, seccomp filter, no_new_privs, and
// for a privileged container its devices and unmasked /proc and /sys.
func (s Security) apply(spec *specs.Spec) error {
	caps, err := s.Capabilities()
	if err != nil {
		return err
	}
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	spec.Process.NoNewPrivileges = s.NoNewPrivileges
	if s.Privileged {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range spec.Mounts {
			if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
				spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		spec.Linux.Devices = hostDevices()
	}
	switch {
	case s.Privileged || s.Seccomp == "unconfined":
		spec.Linux.Seccomp = nil
	case s.Seccomp != "":
		spec.Linux.Seccomp, err = seccomp.LoadProfile(s.Seccomp, spec)
	default:
		spec.Linux.Seccomp, err = seccomp.GetDefaultProfile(spec)
	}
	if err != nil {
		return fmt.Errorf("seccomp profile: %w", err)
	}
	return nil
}

// hostDevices are the host's device nodes, which a privileged container
// gets as Docker's does (but the terminals that /dev/pts and /dev/console are).
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (p == "/dev/pts" || p == "/dev/shm" || p == "/dev/mqueue") {
			return filepath.SkipDir
		}
		if d.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 || p == "/dev/console" || p == "/dev/ptmx" {
			return nil
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			return nil
		}
		typ := "b"
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			typ = "c"
		}
		mode := os.FileMode(st.Mode & 0o777)
		out = append(out, specs.LinuxDevice{Path: p, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &st.Uid, GID: &st.Gid})
		return nil
	})
	return out
}
