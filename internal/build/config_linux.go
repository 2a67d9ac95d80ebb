package build

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// configChange is what an instruction that changes only the config does,
// and its history, as Docker's classic builder writes it. ARG, CMD and
// MAINTAINER also change the stage's state (s) at once, cached or not.
func configChange(s *state, c instructions.Command, a *argSet) (change, error) {
	nop := func(what string, edit func(c *image.ContainerConfig)) (change, error) {
		return change{edit: edit, history: nopHistory(s.cfg.Config, what)}, nil
	}
	if ch, ok, err := runConfigChange(s, c, nop); ok {
		return ch, err
	}
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var kv []string
		for _, p := range c.Env {
			kv = append(kv, p.String())
		}
		return nop("ENV "+strings.Join(kv, " "), func(cc *image.ContainerConfig) {
			for _, p := range c.Env {
				cc.Env = setEnv(cc.Env, p.Key, p.Value)
			}
		})
	case *instructions.LabelCommand:
		var kv []string
		for _, p := range c.Labels {
			kv = append(kv, p.String())
		}
		return nop("LABEL "+strings.Join(kv, " "), func(cc *image.ContainerConfig) {
			if cc.Labels == nil {
				cc.Labels = map[string]string{}
			}
			for _, p := range c.Labels {
				cc.Labels[p.Key] = p.Value
			}
		})
	case *instructions.MaintainerCommand:
		s.maintainer = c.Maintainer
		return nop("MAINTAINER "+c.Maintainer, nil)
	case *instructions.ExposeCommand:
		return nop("EXPOSE "+strings.Join(c.Ports, " "), func(cc *image.ContainerConfig) {
			if cc.ExposedPorts == nil {
				cc.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range c.Ports {
				port, proto, _ := strings.Cut(p, "/")
				if proto == "" {
					proto = "tcp"
				}
				cc.ExposedPorts[port+"/"+strings.ToLower(proto)] = struct{}{}
			}
		})
	case *instructions.VolumeCommand:
		return nop(fmt.Sprintf("VOLUME %v", c.Volumes), func(cc *image.ContainerConfig) {
			if cc.Volumes == nil {
				cc.Volumes = map[string]struct{}{}
			}
			for _, v := range c.Volumes {
				cc.Volumes[v] = struct{}{}
			}
		})
	case *instructions.ArgCommand:
		return nop(declareArgs(s, c, a), nil)
	}
	return change{}, fmt.Errorf("%s is not supported by strata: %w", strings.ToUpper(c.Name()), errdefs.ErrInvalidArgument)
}

// runConfigChange is configChange of the instructions that say how the
// image runs: CMD, ENTRYPOINT, HEALTHCHECK, USER, STOPSIGNAL, SHELL and
// ONBUILD; ok is false for the others.
func runConfigChange(s *state, c instructions.Command, nop func(string, func(*image.ContainerConfig)) (change, error)) (ch change, ok bool, err error) {
	cfg := s.cfg.Config
	switch c := c.(type) {
	case *instructions.CmdCommand:
		cmd := commandLine(cfg, c.ShellDependantCmdLine)
		if len(c.CmdLine) > 0 {
			s.cmdSet = true
		}
		ch, err = nop(fmt.Sprintf("CMD %q", cmd), func(cc *image.ContainerConfig) { cc.Cmd = cmd })
	case *instructions.EntrypointCommand:
		ep := commandLine(cfg, c.ShellDependantCmdLine)
		keepCmd := s.cmdSet
		ch, err = nop(fmt.Sprintf("ENTRYPOINT %q", ep), func(cc *image.ContainerConfig) {
			cc.Entrypoint = ep
			if !keepCmd {
				cc.Cmd = nil
			}
		})
	case *instructions.HealthCheckCommand:
		h := &image.Healthcheck{Test: c.Health.Test, Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			StartPeriod: c.Health.StartPeriod, Retries: c.Health.Retries}
		ch, err = nop(healthHistory(h), func(cc *image.ContainerConfig) { cc.Healthcheck = h })
	case *instructions.UserCommand:
		ch, err = nop("USER "+c.User, func(cc *image.ContainerConfig) { cc.User = c.User })
	case *instructions.StopSignalCommand:
		if !validSignal(c.Signal) {
			return change{}, true, fmt.Errorf("STOPSIGNAL %s: not a signal: %w", c.Signal, errdefs.ErrInvalidArgument)
		}
		ch, err = nop("STOPSIGNAL "+c.Signal, func(cc *image.ContainerConfig) { cc.StopSignal = c.Signal })
	case *instructions.ShellCommand:
		sh := c.Shell
		ch = change{edit: func(cc *image.ContainerConfig) { cc.Shell = sh },
			history: nopHistory(image.ContainerConfig{Shell: sh}, fmt.Sprintf("SHELL %v", sh))}
	case *instructions.OnbuildCommand:
		ch, err = nop("ONBUILD "+c.Expression, func(cc *image.ContainerConfig) { cc.OnBuild = append(cc.OnBuild, c.Expression) })
	default:
		return change{}, false, nil
	}
	return ch, true, err
}

// declareArgs declares a stage's ARGs and returns their history text.
func declareArgs(s *state, c *instructions.ArgCommand, a *argSet) string {
	var parts []string
	for _, kv := range c.Args {
		s.args.declare(kv.Key, a.value(kv.Key, kv.Value, false))
		if kv.Value != nil {
			parts = append(parts, kv.Key+"="+*kv.Value)
		} else {
			parts = append(parts, kv.Key)
		}
	}
	return "ARG " + strings.Join(parts, " ")
}

// commandLine is CMD's or ENTRYPOINT's command: the exec form as it is,
// the shell form after the shell.
func commandLine(cfg image.ContainerConfig, c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell && len(c.CmdLine) > 0 {
		return append(append([]string{}, shellOf(cfg)...), c.CmdLine...)
	}
	return append([]string{}, c.CmdLine...)
}

// exposed expands EXPOSE's ports (one word may become several) and checks
// them: PORT, PORT/PROTO or a range START-END.
func (b *builder) exposed(c *instructions.ExposeCommand, env shell.EnvGetter) ([]string, error) {
	var ports []string
	for _, p := range c.Ports {
		words, err := b.df.lex.ProcessWords(p, env)
		if err != nil {
			return nil, err
		}
		ports = append(ports, words...)
	}
	for _, p := range ports {
		port, proto, _ := strings.Cut(p, "/")
		lo, hi, isRange := strings.Cut(port, "-")
		ok := validPort(lo) && (!isRange || validPort(hi))
		switch strings.ToLower(proto) {
		case "", "tcp", "udp", "sctp":
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("EXPOSE %s: invalid port: want 80, 80/tcp, 53/udp or 8000-8010: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return ports, nil
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// validSignal reads a signal as Docker does: SIGTERM, TERM, or a number.
func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	return unix.SignalNum(name) != 0 || strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX")
}

// setEnv sets k in env, replacing an earlier value in its place.
func setEnv(env []string, k, v string) []string {
	out := append([]string{}, env...)
	for i, kv := range out {
		if strings.HasPrefix(kv, k+"=") {
			out[i] = k + "=" + v
			return out
		}
	}
	return append(out, k+"="+v)
}
