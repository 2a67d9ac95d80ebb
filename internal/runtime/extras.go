package runtime

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Extras are run's everyday flags that shape the container's process and
// file system beyond the image: --init, --ulimit, --device, --shm-size,
// --read-only, --tmpfs.
type Extras struct {
	Init     string            `json:",omitempty"` // --init: the host's static init (tini) to run first
	Ulimits  []string          `json:",omitempty"` // --ulimit NAME=SOFT[:HARD]
	Devices  []string          `json:",omitempty"` // --device HOST[:CONTAINER[:PERMS]]
	ShmSize  int64             `json:",omitempty"` // --shm-size, bytes
	ReadOnly bool              `json:",omitempty"` // --read-only
	Tmpfs    map[string]string `json:",omitempty"` // --tmpfs PATH[:OPTIONS]
}

// InitPath finds a static init for --init: tini, as docker-init is.
func InitPath() (string, error) {
	for _, p := range []string{"/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/sbin/tini"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("--init needs tini: install it with `apt-get install tini`: %w", errdefs.ErrUnavailable)
}

// rlimit parses one --ulimit.
func rlimit(s string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	soft, hard, hasHard := strings.Cut(val, ":")
	if !hasHard {
		hard = soft
	}
	a, err1 := strconv.ParseUint(soft, 10, 64)
	b, err2 := strconv.ParseUint(hard, 10, 64)
	if soft == "-1" || soft == "unlimited" {
		a, err1 = unix.RLIM_INFINITY, nil
	}
	if hard == "-1" || hard == "unlimited" {
		b, err2 = unix.RLIM_INFINITY, nil
	}
	if !ok || err1 != nil || err2 != nil || a > b {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: want NAME=SOFT[:HARD], soft not above hard: %w", s, errdefs.ErrInvalidArgument)
	}
	known := "core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack as"
	if !strings.Contains(" "+known+" ", " "+name+" ") {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: unknown limit %q (%s): %w", s, name, known, errdefs.ErrInvalidArgument)
	}
	return specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(name), Soft: a, Hard: b}, nil
}

// device parses one --device and looks the host's device up.
func device(s string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	parts := strings.Split(s, ":")
	host, ctr, perms := parts[0], parts[0], "rwm"
	if len(parts) > 1 {
		ctr = parts[1]
	}
	if len(parts) > 2 {
		perms = parts[2]
	}
	bad := func(why string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("--device %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if len(parts) > 3 || !path.IsAbs(host) || !path.IsAbs(ctr) || strings.Trim(perms, "rwm") != "" || perms == "" {
		return bad("want /dev/HOST[:/dev/CONTAINER[:rwm]]")
	}
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return bad(err.Error())
	}
	typ := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b"}[st.Mode&unix.S_IFMT]
	if typ == "" {
		return bad("not a device")
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	mode := os.FileMode(st.Mode & 0o777)
	return specs.LinuxDevice{Path: ctr, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &st.Uid, GID: &st.Gid},
		specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms}, nil
}

// Check refuses extras that cannot be applied.
func (e Extras) Check() error {
	for _, u := range e.Ulimits {
		if _, err := rlimit(u); err != nil {
			return err
		}
	}
	for _, d := range e.Devices {
		if _, _, err := device(d); err != nil {
			return err
		}
	}
	for p := range e.Tmpfs {
		if !path.IsAbs(p) {
			return fmt.Errorf("--tmpfs %q: the path must be absolute: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// apply puts the extras into the spec.
func (e Extras) apply(s *specs.Spec) error {
	if e.Init != "" {
		s.Process.Args = append([]string{"/sbin/docker-init", "--"}, s.Process.Args...)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sbin/docker-init", Type: "bind", Source: e.Init, Options: []string{"bind", "ro"}})
	}
	for _, u := range e.Ulimits {
		r, err := rlimit(u)
		if err != nil {
			return err
		}
		s.Process.Rlimits = append(s.Process.Rlimits, r)
	}
	for _, d := range e.Devices {
		dev, rule, err := device(d)
		if err != nil {
			return err
		}
		s.Linux.Devices = append(s.Linux.Devices, dev)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	if e.ShmSize > 0 {
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				s.Mounts[i].Options = append(m.Options[:len(m.Options)-1:len(m.Options)-1], "size="+strconv.FormatInt(e.ShmSize/1024, 10)+"k")
			}
		}
	}
	s.Root.Readonly = e.ReadOnly
	for p, opts := range e.Tmpfs {
		o := []string{"nosuid", "nodev", "noexec"}
		if opts != "" {
			o = append(o, strings.Split(opts, ",")...)
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: p, Type: "tmpfs", Source: "tmpfs", Options: o})
	}
	return nil
}
