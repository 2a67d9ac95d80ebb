// Package runtime runs containers with runc: it writes an OCI runtime bundle
// (runtime-spec's config.json) from an image config and the options of
// `strata run`, prepares what the container sees besides its layers
// (/etc/hosts, /etc/hostname, /etc/resolv.conf, a network namespace with its
// loopback up), and drives runc.
//
// The defaults are Docker's: its capability set, masked and read-only /proc
// and /sys paths, a tmpfs /dev with devpts, shm and mqueue, PATH when the
// image sets none, HOME from the user's passwd entry, the container's short
// ID as hostname, Docker's default seccomp profile (from
// github.com/moby/profiles/seccomp, the package Docker's own comes from),
// and a pids limit as podman's.
package runtime

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/network"
)

// Options are what `strata run` says about a container, on top of its
// image's config.
type Options struct {
	Cmd        []string          // CMD: replaces the image's when set
	Entrypoint *[]string         // --entrypoint: replaces the image's when set ("" clears it)
	Env        []string          // -e and --env-file, KEY=VALUE, later ones winning
	WorkingDir string            // -w
	User       string            // -u: user, user:group, uid or uid:gid
	Hostname   string            // --hostname; the short ID when empty
	Network    string            // "bridge" ("": the default network), "none", "host" or a network's name
	Volumes    []Volume          // -v
	Tty        bool              // -t
	Stdin      bool              // -i
	Security   Security          // --privileged, --cap-add, --cap-drop, --security-opt
	Resources  Resources         // --memory, --cpus, --pids-limit
	Ports      []network.Port    `json:",omitempty"` // -p, and -P's share of the image's EXPOSE
	ExtraHosts []string          `json:",omitempty"` // --add-host NAME:IP
	DNS        []string          `json:",omitempty"` // --dns
	Labels     map[string]string `json:",omitempty"` // -l, --label-file
	Extras     Extras            `json:",omitempty"` // --init, --ulimit, --device, --shm-size, --read-only, --tmpfs
}

// Volume is one -v or --mount: a bind mount of a host path, or of a
// volume of the store (Name set; Anonymous for one made for the container).
type Volume struct {
	Source    string
	Target    string
	ReadOnly  bool
	Name      string `json:",omitempty"`
	Anonymous bool   `json:",omitempty"`
}

// DefaultPath is the PATH a container gets when its image sets none, as in Docker.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is what the container runs: the entrypoint followed by the
// command, each from the options when given, else from the image. As in
// Docker, a new entrypoint drops the image's CMD.
func Command(cfg image.ContainerConfig, o Options) ([]string, error) {
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if o.Entrypoint != nil {
		entrypoint, cmd = nil, nil
		if e := *o.Entrypoint; len(e) > 0 && !(len(e) == 1 && e[0] == "") {
			entrypoint = e
		}
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: the image has no CMD or ENTRYPOINT; give one after the image name: %w", errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// Environment is the container's environment: the image's, then the
// options' (a later KEY replaces an earlier one), then PATH, HOSTNAME, HOME
// and TERM where still unset.
func Environment(cfg image.ContainerConfig, o Options, hostname, home string) []string {
	var env []string
	index := map[string]int{}
	set := func(kv string, replace bool) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			if replace {
				env[i] = kv
			}
			return
		}
		index[k] = len(env)
		env = append(env, kv)
	}
	for _, kv := range cfg.Env {
		set(kv, true)
	}
	for _, kv := range o.Env {
		set(kv, true)
	}
	set("PATH="+DefaultPath, false)
	set("HOSTNAME="+hostname, false)
	set("HOME="+home, false)
	if o.Tty {
		set("TERM=xterm", false)
	}
	return env
}

// WorkingDir is where the process starts: -w, else the image's, else /.
func WorkingDir(cfg image.ContainerConfig, o Options) (string, error) {
	wd := o.WorkingDir
	if wd == "" {
		wd = cfg.WorkingDir
	}
	if wd == "" {
		return "/", nil
	}
	if !path.IsAbs(wd) {
		return "", fmt.Errorf("the working directory %q is not an absolute path: %w", wd, errdefs.ErrInvalidArgument)
	}
	return path.Clean(wd), nil
}

// Bundle is what config.json is made from.
type Bundle struct {
	ID      string
	Args    []string
	Env     []string
	Cwd     string
	User    specs.User
	Options Options
	// Files maps a path in the container (/etc/hosts) to the host file
	// bind-mounted there.
	Files map[string]string
	// NetNS is the network namespace to join with network "none".
	NetNS string
}

// Spec is the runtime-spec config for the bundle; its root is "rootfs".
func Spec(b Bundle) (*specs.Spec, error) {
	o := b.Options
	hostname := o.Hostname
	if hostname == "" {
		hostname = b.ID[:12]
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: hostname,
		Process: &specs.Process{
			Terminal: o.Tty,
			User:     b.User,
			Args:     b.Args,
			Env:      b.Env,
			Cwd:      b.Cwd,
		},
		Mounts: defaultMounts(),
		Linux: &specs.Linux{
			CgroupsPath: "/strata/" + b.ID,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
				"/sys/firmware", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if o.Network != "host" {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: b.NetNS})
	}
	for _, dst := range slices.Sorted(maps.Keys(b.Files)) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: b.Files[dst],
			Options: []string{"rbind", "rprivate"}})
	}
	for _, v := range o.Volumes {
		opts := []string{"rbind", "rprivate"}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: v.Target, Type: "bind", Source: v.Source, Options: opts})
	}
	o.Resources.apply(s.Linux.Resources)
	if err := o.Extras.apply(s); err != nil {
		return nil, err
	}
	if err := o.Security.apply(s); err != nil {
		return nil, err
	}
	return s, nil
}

func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}
