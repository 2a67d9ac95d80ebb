package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// runFlags are the flags of `strata run` (and `create`).
type runFlags struct {
	detach, interactive, tty, rm  bool
	name, workdir, user, hostname string
	entrypoint, network           string
	env, envFiles, volumes        []string
	entrypointSet                 bool
	privileged                    bool
	capAdd, capDrop, securityOpts []string
	memory                        string
	cpus                          float64
	pidsLimit                     int64
	publish, addHosts, dns        []string
	publishAll                    bool
	labels, labelFiles, mounts    []string
	restart                       string
	extraFlags
}

func (a *app) runCommand() *cobra.Command {
	var f runFlags
	cmd := a.containerFlags(&f, &cobra.Command{
		Use:     "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:   "Run a command in a new container",
		GroupID: "containers",
		Long: `Run a command in a new container, as docker run does.

The container gets a writable layer of its own on top of the image's
read-only layers (overlayfs where it works, else a copy), an OCI runtime
bundle made from the image's config (entrypoint, command, env, working
directory, user) and your options, and runs with runc. Without -d, strata
waits for it and exits with its exit status; Ctrl-C and other signals go to
the container. An image that is not in the local store is pulled first.

The network is "bridge" unless you say otherwise: the container has a
network namespace of its own with an address on strata's default network,
which reaches the outside (through slirp4netns) but not the host's loopback
(127.0.0.1 services stay out of reach, and so does their traffic).
--network none gives only a loopback; --network host shares the host's
network, with no isolation at all: say it only for what needs it.`,
		Example: `  strata run --rm busybox echo hello
  strata run -it --rm busybox sh
  strata run -d --name web -v /srv/www:/www:ro --network host busybox httpd -f -p 8080 -h /www
  strata run --rm -e GREETING=hi -w /tmp -u app busybox sh -c 'echo $GREETING from $(pwd) as $(id -un)'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.entrypointSet = cmd.Flags().Changed("entrypoint")
			return a.run(cmd.Context(), f, args[0], args[1:])
		},
	})
	cmd.Flags().BoolVarP(&f.detach, "detach", "d", false, "run in the background and print the container ID")
	return cmd
}

// createCommand is `strata create`: run without starting.
func (a *app) createCommand() *cobra.Command {
	var f runFlags
	return a.containerFlags(&f, &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a container, to start later",
		Long: `Create a container as run does, without starting it: strata start runs it in
the background, strata start -a in the foreground. Takes run's options.`,
		Example: "  strata create --name job busybox echo done\n  strata start -a job",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.entrypointSet = cmd.Flags().Changed("entrypoint")
			s, _, c, err := a.create(cmd.Context(), f, args[0], args[1:])
			if err != nil {
				return a.exitWith(125, err)
			}
			s.Close()
			fmt.Fprintln(a.Out, c.ID)
			return nil
		},
	})
}

// containerFlags adds the flags run and create share to cmd.
func (a *app) containerFlags(f *runFlags, cmd *cobra.Command) *cobra.Command {
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "keep STDIN open and pass it to the container")
	fl.BoolVarP(&f.tty, "tty", "t", false, "give the container a pseudo-terminal")
	fl.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
	fl.StringVar(&f.name, "name", "", "name the container (default: a generated name)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass on this shell's")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file, one KEY=VALUE a line")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "the working directory in the container")
	fl.StringVarP(&f.user, "user", "u", "", "run as this user: name|uid[:group|gid]")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "mount a host path (/host/path:/ctr/path[:ro]), a volume (NAME:/ctr/path) or a new anonymous volume (/ctr/path)")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "replace the image's entrypoint (\"\" clears it)")
	fl.StringVar(&f.network, "network", network.Default, "bridge (isolated, outbound access), none (only a loopback) or host (the host's network, no isolation)")
	fl.StringVar(&f.hostname, "hostname", "", "the container's host name (default: its short ID)")
	f.securityFlags(fl)
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a port: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/udp]")
	fl.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish every port the image EXPOSEs on a port the kernel picks")
	fl.StringArrayVar(&f.addHosts, "add-host", nil, "add a line to /etc/hosts: NAME:IP")
	fl.StringArrayVar(&f.dns, "dns", nil, "a nameserver for the container")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "set a label: KEY=VALUE")
	fl.StringArrayVar(&f.mounts, "mount", nil, "mount: type=bind|volume|tmpfs,source=...,target=...[,readonly]")
	fl.StringVar(&f.restart, "restart", "no", "restart the container when it ends: no, on-failure[:N], always, unless-stopped")
	f.extraFlags.add(fl)
	fl.StringArrayVar(&f.labelFiles, "label-file", nil, "read labels from a file, one KEY=VALUE a line")
	return cmd
}

// containers opens the store and the containers in it.
func (a *app) containers(ctx context.Context) (*store.Store, *container.Manager, error) {
	s, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := container.New(s, a.getenv("STRATA_SNAPSHOTTER"), a.log)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	if err := m.Reap(ctx); err != nil {
		a.log.Warn("cleaning up after killed runs", "err", err)
	}
	return s, m, nil
}

// withContainers runs fn with the containers of the store, closing the
// store when fn returns. Commands that need the store too use containers.
func (a *app) withContainers(ctx context.Context, fn func(m *container.Manager) error) error {
	s, m, err := a.containers(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(m)
}

// create makes the container that run and create make; the caller closes s.
func (a *app) create(ctx context.Context, f runFlags, imageName string, args []string) (*store.Store, *container.Manager, container.Container, error) {
	var c container.Container
	opts, err := f.options(a.getenv, args)
	if err != nil {
		return nil, nil, c, err
	}
	s, m, err := a.containers(ctx)
	if err != nil {
		return nil, nil, c, err
	}
	restart, err := container.ParseRestartPolicy(f.restart)
	if err != nil {
		s.Close()
		return nil, nil, c, err
	}
	img, err := a.image(ctx, s, f.extraFlags, imageName)
	if err == nil {
		c, err = m.Create(ctx, img, container.CreateOptions{Name: f.name, Image: imageName, Run: opts, AutoRemove: f.rm,
			PublishAll: f.publishAll, Restart: restart})
	}
	if err == nil {
		if err = writeCidfile(f.cidfile, c); err != nil {
			m.Remove(ctx, c.ID, true)
		}
	}
	if err != nil {
		s.Close()
		return nil, nil, c, err
	}
	if f.privileged {
		fmt.Fprintln(a.Err, privilegedWarning)
	}
	return s, m, c, nil
}

func (a *app) run(ctx context.Context, f runFlags, imageName string, args []string) error {
	terminal, err := a.terminal(f)
	if err != nil {
		return a.exitWith(125, err)
	}
	s, m, c, err := a.create(ctx, f, imageName, args)
	if err != nil {
		return a.exitWith(125, err)
	}
	defer s.Close()
	if f.detach {
		if _, err := m.Start(ctx, c.ID, a.monitorCommand(c.ID)); err != nil {
			return a.exitWith(125, err)
		}
		fmt.Fprintln(a.Out, c.ID)
		return nil
	}
	stdio := container.IO{Stdout: a.Out, Stderr: a.Err, Terminal: terminal}
	if f.interactive {
		stdio.Stdin = a.In
	}
	code, err := m.Run(ctx, c.ID, stdio)
	if err != nil {
		return a.exitWith(code, err)
	}
	if code != 0 {
		return ExitError{Code: code}
	}
	return nil
}

// exitWith reports err as Run does, but exits with code: Docker's 125 when
// strata failed, 126 or 127 when the container's program could not start.
func (a *app) exitWith(code int, err error) error {
	fmt.Fprintln(a.Err, "Error:", err)
	return ExitError{Code: code}
}

// terminal is the terminal to hand the container for -it, nil without -t
// or -i; -it without a terminal is refused, as by docker.
func (a *app) terminal(f runFlags) (*os.File, error) {
	if !f.tty || !f.interactive || f.detach { // -dit: the terminal is the monitor's, for attach
		return nil, nil
	}
	in, ok := a.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, fmt.Errorf("the input device is not a TTY: drop -t, or run strata from a terminal: %w", errdefs.ErrInvalidArgument)
	}
	return in, nil
}

// monitorCommand is the strata process that runs a detached container.
func (a *app) monitorCommand(id string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	return exec.Command(self, "--root", a.root, "--log-level", a.logLevel, "container", "monitor", id)
}

// options turns the flags into the runtime's options.
func (f runFlags) options(getenv func(string) string, args []string) (runtime.Options, error) {
	o := runtime.Options{Cmd: args, WorkingDir: f.workdir, User: f.user, Hostname: f.hostname,
		Network: f.network, Tty: f.tty, Stdin: f.interactive}
	if f.entrypointSet {
		e := []string{f.entrypoint}
		o.Entrypoint = &e
	}
	for _, file := range f.envFiles {
		env, err := readEnvFile(file, getenv)
		if err != nil {
			return o, err
		}
		o.Env = append(o.Env, env...)
	}
	for _, kv := range f.env {
		if v, ok := envValue(kv, getenv); ok {
			o.Env = append(o.Env, v)
		}
	}
	if err := f.security(&o); err != nil {
		return o, err
	}
	if err := f.extras(&o); err != nil {
		return o, err
	}
	for _, p := range f.publish {
		ports, err := network.ParsePort(p)
		if err != nil {
			return o, err
		}
		o.Ports = append(o.Ports, ports...)
	}
	for _, h := range f.addHosts {
		name, ip, ok := strings.Cut(h, ":")
		if _, err := netip.ParseAddr(ip); !ok || name == "" || err != nil {
			return o, fmt.Errorf("--add-host %q: want NAME:IP: %w", h, errdefs.ErrInvalidArgument)
		}
	}
	for _, d := range f.dns {
		if _, err := netip.ParseAddr(d); err != nil {
			return o, fmt.Errorf("--dns %q: not an IP address: %w", d, errdefs.ErrInvalidArgument)
		}
	}
	o.ExtraHosts, o.DNS = f.addHosts, f.dns
	labels := append([]string{}, f.labels...)
	for _, file := range f.labelFiles {
		l, err := readEnvFile(file, func(string) string { return "" })
		if err != nil {
			return o, err
		}
		labels = append(labels, l...)
	}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[k] = v
	}
	for _, v := range f.volumes {
		vol, err := parseVolume(v)
		if err != nil {
			return o, err
		}
		o.Volumes = append(o.Volumes, vol)
	}
	for _, mnt := range f.mounts {
		if err := parseMount(mnt, &o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// envValue is KEY=VALUE as given, or KEY with this process's value (false
// when it has none), as docker -e does.
func envValue(kv string, getenv func(string) string) (string, bool) {
	if strings.Contains(kv, "=") {
		return kv, true
	}
	if v := getenv(kv); v != "" {
		return kv + "=" + v, true
	}
	return "", false
}

// readEnvFile reads Docker's env file format: KEY=VALUE or KEY lines,
// blank lines and # comments skipped, values taken literally.
func readEnvFile(path string, getenv func(string) string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _ := strings.Cut(line, "=")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("--env-file %s:%d: %q is not KEY=VALUE: %w", path, n, line, errdefs.ErrInvalidArgument)
		}
		if v, ok := envValue(line, getenv); ok {
			out = append(out, v)
		}
	}
	return out, sc.Err()
}

// parseVolume reads -v as docker does: HOST:CONTAINER[:OPTIONS] binds a
// host path (absolute, or relative as ./dir), NAME:CONTAINER[:OPTIONS]
// mounts a named volume (made if need be), CONTAINER alone an anonymous
// one. OPTIONS are ro or rw, and z or Z (SELinux relabelling: nothing to do
// where SELinux is off), comma-separated.
func parseVolume(s string) (runtime.Volume, error) {
	parts := strings.Split(s, ":")
	bad := func(why string) error {
		return fmt.Errorf("-v %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if len(parts) == 1 {
		if !strings.HasPrefix(s, "/") {
			return runtime.Volume{}, bad("want /host/path:/container/path[:ro], volume:/container/path, or /container/path")
		}
		return runtime.Volume{Target: s, Anonymous: true}, nil
	}
	if len(parts) > 3 {
		return runtime.Volume{}, bad("want /host/path:/container/path[:ro]")
	}
	v := runtime.Volume{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		for _, opt := range strings.Split(parts[2], ",") {
			switch opt {
			case "ro":
				v.ReadOnly = true
			case "rw", "z", "Z":
			default:
				return v, bad("the options are ro, rw, z and Z")
			}
		}
	}
	if !strings.HasPrefix(v.Target, "/") {
		return v, bad("the container path must be absolute")
	}
	if !strings.HasPrefix(v.Source, "/") && !strings.HasPrefix(v.Source, ".") {
		v.Name, v.Source = v.Source, ""
		return v, nil
	}
	if !filepath.IsAbs(v.Source) {
		abs, err := filepath.Abs(v.Source)
		if err != nil {
			return v, bad(err.Error())
		}
		v.Source = abs
	}
	if _, err := os.Stat(v.Source); err != nil {
		return v, bad(fmt.Sprintf("the host path: %v", errors.Unwrap(err)))
	}
	return v, nil
}
