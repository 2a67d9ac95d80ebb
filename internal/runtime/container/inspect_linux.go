package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/store"
)

// Inspect is a container as `docker container inspect` shows it.
type Inspect struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           InspectState
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	HostConfig      map[string]any
	Mounts          []map[string]any
	Config          map[string]any
	NetworkSettings map[string]any
}

// InspectState is Inspect's State.
type InspectState struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
}

const zeroTime = "0001-01-01T00:00:00Z"

func inspectTime(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Status is docker's word for the container's state: created, running,
// paused, exited.
func (m *Manager) Status(c Container) string {
	switch {
	case m.Paused(c):
		return "paused"
	case c.Running():
		return "running"
	case c.State == store.StateCreated:
		return "created"
	}
	return "exited"
}

// Inspect describes a container.
func (m *Manager) Inspect(ctx context.Context, c Container) Inspect {
	s, o, dir := c.Settings, c.Settings.Options, m.dir(c.ID)
	in := Inspect{ID: c.ID, Created: inspectTime(c.Created), Path: s.Args[0], Args: s.Args[1:], Image: c.ImageID.String(),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"), HostnamePath: filepath.Join(dir, "hostname"),
		HostsPath: filepath.Join(dir, "hosts"), LogPath: m.LogPath(c.ID), Name: "/" + c.Name, Driver: m.sn.Name(), Platform: "linux",
		RestartCount: m.RestartCount(c.ID)}
	in.State = InspectState{Status: m.Status(c), Running: c.Running(), Paused: m.Paused(c), ExitCode: c.ExitCode, Error: c.Error,
		StartedAt: inspectTime(c.Started), FinishedAt: inspectTime(c.Finished), OOMKilled: c.ExitCode == 137 && o.Resources.Memory > 0}
	if c.Running() {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			in.State.Pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		in.State.FinishedAt = zeroTime
	}
	var binds []string
	for _, v := range o.Volumes {
		mode := "rw"
		if v.ReadOnly {
			mode = "ro"
		}
		binds = append(binds, v.Source+":"+v.Target+map[bool]string{true: ":ro", false: ""}[v.ReadOnly])
		in.Mounts = append(in.Mounts, map[string]any{"Type": "bind", "Source": v.Source, "Destination": v.Target,
			"Mode": "", "RW": mode == "rw", "Propagation": "rprivate"})
	}
	if in.Mounts == nil {
		in.Mounts = []map[string]any{}
	}
	portBindings := map[string][]map[string]string{}
	for _, p := range o.Ports {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		hp := ""
		if p.HostPort != 0 {
			hp = strconv.Itoa(p.HostPort)
		}
		portBindings[k] = append(portBindings[k], map[string]string{"HostIp": p.HostIP, "HostPort": hp})
	}
	in.HostConfig = map[string]any{"Binds": binds, "NetworkMode": networkName(o.Network), "PortBindings": portBindings,
		"AutoRemove": s.AutoRemove, "Privileged": o.Security.Privileged, "CapAdd": o.Security.CapAdd, "CapDrop": o.Security.CapDrop,
		"Memory": o.Resources.Memory, "NanoCpus": int64(o.Resources.CPUs * 1e9), "PidsLimit": o.Resources.PidsLimit,
		"ExtraHosts": o.ExtraHosts, "Dns": o.DNS,
		"RestartPolicy": map[string]any{"Name": firstOf(s.Restart.Name, "no"), "MaximumRetryCount": s.Restart.MaxRetries}}
	env := append(append([]string{}, s.Config.Env...), o.Env...)
	exposed := map[string]struct{}{}
	for k := range s.Config.ExposedPorts {
		exposed[k] = struct{}{}
	}
	in.Config = map[string]any{"Hostname": s.Hostname, "User": firstOf(o.User, s.Config.User), "Tty": o.Tty, "OpenStdin": o.Stdin,
		"Env": env, "Cmd": s.Args, "Image": c.Image, "WorkingDir": firstOf(o.WorkingDir, s.Config.WorkingDir),
		"Entrypoint": s.Config.Entrypoint, "Labels": Labels(c), "ExposedPorts": exposed, "StopSignal": s.Config.StopSignal}
	in.NetworkSettings = m.networkSettings(c)
	return in
}

// networkSettings is Inspect's NetworkSettings: the address a running
// container has and the ports it publishes.
func (m *Manager) networkSettings(c Container) map[string]any {
	ep := m.Endpoint(c)
	ports := map[string][]map[string]string{}
	for _, p := range m.PublishedPorts(c) {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		ports[k] = append(ports[k], map[string]string{"HostIp": ip, "HostPort": strconv.Itoa(p.HostPort)})
	}
	name := networkName(c.Settings.Options.Network)
	net := map[string]any{"IPAddress": "", "Gateway": "", "IPPrefixLen": 0, "MacAddress": ""}
	if ep.IP.IsValid() {
		net = map[string]any{"IPAddress": ep.IP.Addr().String(), "Gateway": ep.Gateway.String(),
			"IPPrefixLen": ep.IP.Bits(), "MacAddress": ep.MAC, "NetworkID": name}
	}
	out := map[string]any{"Ports": ports, "Networks": map[string]any{name: net}}
	for k, v := range net {
		if name == network.Default && k != "NetworkID" {
			out[k] = v
		}
	}
	return out
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Labels are the container's labels: its image's, then its own.
func Labels(c Container) map[string]string {
	out := map[string]string{}
	for k, v := range c.Settings.Config.Labels {
		out[k] = v
	}
	for k, v := range c.Settings.Options.Labels {
		out[k] = v
	}
	return out
}
